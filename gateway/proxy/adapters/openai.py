"""The adapter for OpenAI upstreams, over the OpenAI-compatible wire that other protocols
(Azure OpenAI, DashScope, Volcengine, Gemini) build on.

`OpenAICompatible` is no protocol of its own: each protocol's adapter subclasses it and
overrides the small steps (`url`, `shape_body`, `error_body`, `retry_after`, ...), never
another protocol's adapter.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from gateway.catalog.protocols import PROTOCOLS
from gateway.errors import UpstreamProtocolError
from gateway.proxy import native_tools
from gateway.proxy.adapters.base import (
    VIDEO_ENDPOINTS,
    Adapter,
    Call,
    RealtimeUpstream,
    Reply,
    UpstreamResponse,
    auth_headers,
)
from gateway.proxy.adapters.openai_rename import _parse_chunk, _rename
from gateway.proxy.adapters.openai_responses import ResponsesPassThrough
from gateway.proxy.adapters.openai_search import counted, search_tools, searches
from gateway.proxy.chunk import RawEvents, loads
from gateway.proxy.splice import spliced
from gateway.proxy.sse import aclose
from gateway.proxy.sse_reads import RawReads
from gateway.proxy.upstream_errors import status_error

PATHS: Mapping[str, str] = {
    "chat": "/chat/completions",
    "embeddings": "/embeddings",
    "images.generations": "/images/generations",
    "images.edits": "/images/edits",
    "audio.speech": "/audio/speech",
    "audio.transcriptions": "/audio/transcriptions",
}
#: Endpoints that are not one HTTP request: realtime sessions (adapters/openai_realtime.py)
#: and video jobs (adapters/openai_videos.py).
SESSIONS = frozenset({"realtime"}) | VIDEO_ENDPOINTS
#: Endpoints answered by adapters/openai_media.py (multipart out, bytes back).
MEDIA = frozenset({"images.generations", "images.edits", "audio.speech", "audio.transcriptions"})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAICompatible(Adapter):
    """Speaks the OpenAI API to any base_url; the request is already in OpenAI's shape."""

    endpoints = frozenset(PATHS)
    #: Relay the upstream's bytes (the model name swapped) instead of encoding shaped dicts
    #: again: only for protocols whose replies and chunks need no shaping beyond the rename.
    relays_bytes: ClassVar[bool] = True

    # ----- request shaping: the steps subclasses override -----

    def url(self, call: Call) -> str:
        return (call.provider.base_url or "").rstrip("/") + PATHS[call.endpoint]

    def headers(self, call: Call) -> dict[str, str]:
        headers = dict(call.provider.headers)
        headers.update(call.channel.options.get("headers") or {})
        headers.update(auth_headers(call.secrets))  # last: catalog headers cannot replace auth
        if call.request_id:
            headers["x-request-id"] = call.request_id
        return headers

    def shape_body(self, call: Call) -> dict[str, Any]:
        body = dict(call.body)
        body["model"] = call.channel.upstream_model
        if call.endpoint == "chat" and call.native_tools:
            body = native_tools.with_body_fields(body, call.native_tools, self.protocol)
        if (
            call.endpoint == "chat"
            and body.get("stream")
            and call.channel.options.get("stream_usage", True)
        ):
            options = body.get("stream_options") or {}
            if options.get("include_usage") is not True:  # else kept as it is: spliced
                body["stream_options"] = {**options, "include_usage": True}
        return body

    # ----- response shaping -----

    def shape_reply(self, call: Call, data: dict[str, Any]) -> dict[str, Any]:
        if "model" in data:
            data["model"] = call.body["model"]  # the client sees the name it asked for
        return data

    def shape_chunk(self, call: Call, chunk: dict[str, Any]) -> dict[str, Any]:
        if "model" in chunk:
            chunk["model"] = call.body["model"]
        return chunk

    def error_body(self, status: int, raw: bytes) -> dict[str, Any]:
        """The upstream's error in OpenAI's shape (passed through when it already is)."""
        try:
            data = loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return data
        message = raw.decode("utf-8", "replace")[:500] or f"upstream answered {status}"
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }

    def retry_after(self, response: UpstreamResponse, raw: bytes) -> float | None:
        return parse_retry_after(response.headers.get("retry-after"))

    def error_status(self, status: int, raw: bytes) -> int:
        """The status the upstream's error stands for (some spell 401 as a 400)."""
        return status

    async def raise_for_status(self, response: UpstreamResponse, call: Call) -> None:
        """Read an error answer's body; what its status means is upstream_errors' call."""
        status = response.status
        if status < 300:
            return
        raw = await response.read()
        body = self.error_body(status, raw)
        message = str(body["error"].get("message") or f"upstream answered {status}")
        raise status_error(
            call.provider.name,
            self.error_status(status, raw),
            message,
            body=body,
            retry_after=self.retry_after(response, raw),
            upstream_model=call.channel.upstream_model,
        )

    # ----- realtime sessions -----

    def realtime_url(self, call: Call) -> str:
        from gateway.proxy.adapters import openai_realtime

        return openai_realtime.openai_url(call)

    async def realtime_connect(self, call: Call) -> RealtimeUpstream:
        from gateway.proxy.adapters import openai_realtime

        return await openai_realtime.connect(self, call)

    # ----- the seam -----

    async def _post(self, call: Call) -> UpstreamResponse:
        body = self.shape_body(call)
        raw = None if call.source is None else spliced(call.source, body)
        response = await self.http.request(
            "POST",
            self.url(call),
            headers=self.headers(call),
            deadline=call.deadline,
            json=body if raw is None else raw,
        )
        if response.status >= 300:  # no coroutine for the answers that pass
            await self.raise_for_status(response, call)
        return response

    async def send(self, call: Call) -> Reply:
        if call.endpoint in MEDIA:
            from gateway.proxy.adapters import openai_media

            return await openai_media.send(self, call)
        if call.endpoint in VIDEO_ENDPOINTS:
            from gateway.proxy.adapters import openai_videos

            return await openai_videos.send(self, call)
        response = await self._post(call)
        raw = await response.read()
        try:
            data = loads(raw)  # an HTML error page with a 200 is a protocol error
        except ValueError:
            raise UpstreamProtocolError(f"upstream {_host(call)} answered invalid JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("upstream answered JSON that is not an object")
        if self.relays_bytes and raw.startswith(b"{"):
            # The answer relayed as the upstream's bytes, the model name swapped, when the
            # swap is unambiguous; otherwise encoded again from the shaped dict.
            renamed = _rename(call.channel.upstream_model, call.body["model"]).swap(raw)
            return Reply(body=self.shape_reply(call, data), raw=renamed)
        return Reply(body=self.shape_reply(call, data))

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        """Chunks as `RawChunk`s (the upstream's bytes, renamed) where the base `shape_chunk`
        applies; as shaped dicts where a subclass shapes chunks itself or bytes will not do."""
        response = await self._post(call)
        fast = self.relays_bytes
        rename = _rename(call.channel.upstream_model, call.body["model"])
        finished = False
        whole = rename.whole_events if fast and call.event_runs else None
        reads = RawReads(response.iter_bytes(), whole)
        try:
            async for events in reads:
                if type(events) is RawEvents:
                    yield events
                    continue
                for data, complete in events:
                    if data == b"[DONE]":
                        return
                    raw = rename.fast_chunk(data) if fast and complete else None
                    if raw is not None and raw.plain:
                        yield raw
                        continue
                    chunk: Mapping[str, Any]
                    if raw is None:
                        parsed = _parse_chunk(data)
                        chunk = self.shape_chunk(call, parsed)
                    else:
                        chunk, parsed = raw, raw.data
                    if not finished:
                        for choice in parsed.get("choices") or ():
                            finished = finished or bool(choice.get("finish_reason"))
                    yield chunk
            if not finished:  # some upstreams omit [DONE]; a stream without an end was cut
                raise UpstreamProtocolError("upstream stream ended before the answer did")
        finally:
            await aclose(reads)
            await response.close()


def _host(call: Call) -> str:
    return urlsplit(call.provider.base_url or "").hostname or "upstream"


class OpenAIAdapter(ResponsesPassThrough, OpenAICompatible):
    """OpenAI's own API (and any upstream that speaks it exactly); the Responses API passed
    through unless the channel sets `responses_api: false`. Web searches of chat answers
    are counted in their usage, plain or streamed (adapters/openai_search.py)."""

    protocol = "openai"
    endpoints = PROTOCOLS["openai"].endpoints

    def send(self, call: Call) -> Coroutine[Any, Any, Reply]:
        if not call.native_tools:  # no searches to count: no coroutine around the answer
            return super().send(call)
        return self._send_counting_searches(call)

    async def _send_counting_searches(self, call: Call) -> Reply:
        reply = await super().send(call)
        calls = searches(call, reply.body)
        if calls and isinstance((reply.body or {}).get("usage"), dict):
            body = dict(reply.body or {})
            body["usage"] = {**body["usage"], "native_tool_calls": calls}
            return Reply(body=body, status=reply.status)  # the bytes changed: encoded again
        return reply

    def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        chunks = super().stream(call)
        names = search_tools(call) if call.native_tools else ()
        return counted(chunks, names) if names else chunks


ADAPTER = OpenAIAdapter
