"""Video jobs on OpenAI-like upstreams (the Videos API): create, retrieve, content, delete.

A job is created with multipart/form-data as the SDK sends it (the reference image, if
any, unchanged); status and delete are JSON; content is relayed as the upstream sends it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from gateway.errors import UpstreamProtocolError
from gateway.proxy import multipart
from gateway.proxy.adapters.base import Call, Reply
from gateway.proxy.adapters.openai_media import form_fields, relayed

if TYPE_CHECKING:
    from gateway.proxy.adapters.openai import OpenAICompatible

#: Fields of a create request the upstream gets (the client's model name is replaced).
CREATE_FIELDS = ("prompt", "seconds", "size")


def _url(adapter: OpenAICompatible, call: Call, suffix: str = "") -> str:
    base = (call.provider.base_url or "").rstrip("/") + "/videos"
    if call.endpoint == "videos":
        return base
    return f"{base}/{quote(str(call.body['video_id']), safe='')}{suffix}"


async def send(adapter: OpenAICompatible, call: Call) -> Reply:
    """Answer a video call through an OpenAI-like upstream."""
    headers = adapter.headers(call)
    method, data, url = "GET", None, _url(adapter, call)
    if call.endpoint == "videos":
        fields = {k: call.body[k] for k in CREATE_FIELDS if call.body.get(k) is not None}
        fields["model"] = call.channel.upstream_model
        content_type, data = multipart.encode(form_fields(fields), call.files)
        headers["Content-Type"] = content_type
        method = "POST"
    elif call.endpoint == "videos.delete":
        method = "DELETE"
    elif call.endpoint == "videos.content":
        variant = call.body.get("variant")
        url = _url(adapter, call, "/content") + (
            f"?{urlencode({'variant': variant})}" if variant else ""
        )
    response = await adapter.http.request(
        method, url, headers=headers, deadline=call.deadline, data=data
    )
    await adapter.raise_for_status(response, call)
    if call.endpoint == "videos.content":
        return Reply(
            chunks=await relayed(response),
            content_type=response.headers.get("content-type") or "video/mp4",
        )
    body = await response.json()
    if not isinstance(body, dict):
        raise UpstreamProtocolError("upstream answered JSON that is not an object")
    return Reply(body=body)
