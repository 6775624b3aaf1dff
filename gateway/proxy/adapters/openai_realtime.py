"""Opening realtime sessions on OpenAI-like upstreams: the WebSocket URL and the upgrade.

The adapter gives the URL (OpenAI: `wss://…/v1/realtime?model=…`; Azure: its deployment
forms) and the headers; an upgrade the upstream refuses goes through the adapter's own
status policy, so a 429 or 5xx lets the router fail over and a 4xx reaches the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from gateway.errors import UpstreamProtocolError
from gateway.proxy.adapters.base import Call, HandshakeRefused, RealtimeUpstream

if TYPE_CHECKING:
    from gateway.proxy.adapters.openai import OpenAICompatible

#: The header that selects the beta form of the protocol; relayed when the client sends it.
BETA_HEADER = "OpenAI-Beta"


def ws_base(base_url: str | None) -> str:
    """An http(s) base URL as the ws(s) URL of the same place."""
    base = (base_url or "").rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base


def openai_url(call: Call) -> str:
    return (
        f"{ws_base(call.provider.base_url)}/realtime"
        f"?model={quote(call.channel.upstream_model, safe='')}"
    )


async def connect(adapter: OpenAICompatible, call: Call) -> RealtimeUpstream:
    """The upstream session of a realtime call, or an UpstreamError."""
    headers = adapter.headers(call)
    beta = call.body.get("beta")
    if isinstance(beta, str) and beta:
        headers[BETA_HEADER] = beta
    websocket = getattr(adapter.http, "websocket", None)
    if websocket is None:
        raise UpstreamProtocolError("this proxy's upstream client cannot open WebSockets")
    try:
        return await websocket(
            adapter.realtime_url(call),
            headers=headers,
            deadline=call.deadline,
            max_frame_bytes=int(call.body.get("max_frame_bytes") or 0),
        )
    except HandshakeRefused as refused:
        await adapter.raise_for_status(refused, call)  # type: ignore[arg-type]
        raise UpstreamProtocolError(
            f"upstream answered the upgrade with status {refused.status}"
        ) from None
