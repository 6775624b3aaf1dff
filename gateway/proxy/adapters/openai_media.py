"""The images and audio endpoints of OpenAI-like adapters: JSON or multipart out, bytes back.

Image generation and speech go out as JSON, image edits and transcriptions as
multipart/form-data with the client's files unchanged. Speech audio comes back as chunks
that the proxy relays as they arrive; the first chunk is awaited here, so an upstream that
fails before sending any audio still lets the router fail over.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import UpstreamProtocolError
from gateway.proxy import multipart
from gateway.proxy.adapters.base import Call, Reply, UpstreamResponse

if TYPE_CHECKING:
    from gateway.proxy.adapters.openai import OpenAICompatible

#: Endpoints whose upstream request is multipart/form-data (paths: the adapter's PATHS).
MULTIPART = frozenset({"images.edits", "audio.transcriptions"})


def form_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """Request fields as form values: text, lists of text for repeated fields."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {
        name: [text(v) for v in value] if isinstance(value, list) else text(value)
        for name, value in body.items()
        if value is not None
    }


async def relayed(response: UpstreamResponse) -> AsyncIterator[bytes]:
    """The response body as chunks, its first chunk already received."""
    chunks = response.iter_bytes()
    try:
        first = await anext(chunks, b"")
    except BaseException:
        await response.close()
        raise

    async def relay() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            await response.close()

    return relay()


async def send(adapter: OpenAICompatible, call: Call) -> Reply:
    """Answer an images or audio call through an OpenAI-like upstream."""
    headers = adapter.headers(call)
    body = adapter.shape_body(call)
    if call.endpoint in MULTIPART:
        content_type, data = multipart.encode(form_fields(body), call.files)
        headers["Content-Type"] = content_type
        response = await adapter.http.request(
            "POST", adapter.url(call), headers=headers, deadline=call.deadline, data=data
        )
    else:
        response = await adapter.http.request(
            "POST", adapter.url(call), headers=headers, deadline=call.deadline, json=body
        )
    await adapter.raise_for_status(response, call)
    content_type = response.headers.get("content-type", "")
    if call.endpoint == "audio.speech" and not content_type.startswith("application/json"):
        return Reply(
            chunks=await relayed(response), content_type=content_type or "application/octet-stream"
        )
    if content_type.startswith("application/json"):
        data = await response.json()
        if not isinstance(data, dict):
            raise UpstreamProtocolError("upstream answered JSON that is not an object")
        return Reply(body=adapter.shape_reply(call, data))
    return Reply(content=await response.read(), content_type=content_type or "text/plain")
