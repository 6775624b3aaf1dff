"""The Responses API passed through to upstreams that serve it (OpenAI, Azure OpenAI):
the client's body as it is, the upstream's answer and events back as they are."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from gateway.errors import UpstreamProtocolError, UpstreamStatusError
from gateway.proxy.adapters.base import Call, Deadline, NativeEvent, Reply, UpstreamResponse


class ResponsesPassThrough:
    """Mixed into an OpenAI-compatible adapter whose upstream serves `/responses`."""

    native: ClassVar[frozenset[str]] = frozenset({"responses"})
    # http, headers() and raise_for_status() come from the adapter it is mixed into.
    http: Any

    def takes_native(self, call: Call) -> bool:
        """Responses go through as they are unless the channel says its upstream does not
        serve that API (`responses_api: false`, for OpenAI-compatible servers)."""
        return (
            call.native is not None
            and call.native.protocol in self.native
            and call.channel.options.get("responses_api", True) is not False
        )

    def responses_url(self, call: Call) -> str:
        return (call.provider.base_url or "").rstrip("/") + "/responses"

    async def _post_native(self, call: Call, *, stream: bool) -> UpstreamResponse:
        assert call.native is not None
        body = dict(call.native.body)
        body["model"] = call.channel.upstream_model
        body["stream"] = stream
        deadline: Deadline = call.deadline
        adapter: Any = self
        response = await self.http.request(
            "POST",
            self.responses_url(call),
            headers=adapter.headers(call),
            deadline=deadline,
            json=body,
        )
        await adapter.raise_for_status(response, call)
        return response

    async def send_native(self, call: Call) -> Reply:
        response = await self._post_native(call, stream=False)
        try:
            data = json.loads(await response.read())
        except ValueError:
            raise UpstreamProtocolError("upstream answered invalid JSON") from None
        if not isinstance(data, dict):
            raise UpstreamProtocolError("upstream answered JSON that is not an object")
        return Reply(body=data, native=True)

    async def stream_native(self, call: Call) -> AsyncIterator[NativeEvent]:
        """The upstream's Responses events; an `error` event or a failed response before the
        first event lets the router fail over, after it ends the client's stream."""
        response = await self._post_native(call, stream=True)
        try:
            async for name, data in response.iter_sse():
                event = NativeEvent(name, data.encode())
                try:
                    kind = event.data.get("type")
                except ValueError:
                    raise UpstreamProtocolError("upstream sent an unreadable event") from None
                if kind in ("error", "response.failed"):
                    raise _failure(event.data)
                yield event
                if kind in ("response.completed", "response.incomplete"):
                    return
            raise UpstreamProtocolError("upstream stream ended before the response did")
        finally:
            await response.close()


def _failure(data: Mapping[str, Any]) -> UpstreamStatusError:
    error = data.get("error") or (data.get("response") or {}).get("error") or {}
    message = error.get("message") if isinstance(error, Mapping) else None
    return UpstreamStatusError(
        f"upstream failed: {message or 'error event'}", status=502, retryable=True
    )
