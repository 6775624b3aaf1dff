"""Probes of the model types that are not one request: a realtime session that completes
one response, and a video job that the upstream accepts.

`probe.probe_one` calls `send` here for the "realtime" and "videos" endpoints; failures
raise like an adapter's, so they are classified the same way.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import UpstreamProtocolError
from gateway.proxy.adapters.base import Adapter, Call

#: The cheapest response a realtime model can give.
RESPONSE_CREATE = json.dumps(
    {
        "type": "response.create",
        "response": {"instructions": "Answer with one word.", "max_output_tokens": 16},
    }
)


class ProbeFailed(UpstreamProtocolError):
    """The upstream said no inside the session or job (an error event, a failed job)."""


async def realtime(adapter: Adapter, call: Call) -> None:
    """Open a session, ask for one response, wait for its `response.done`."""
    upstream = await adapter.realtime_connect(call)
    try:
        await upstream.send(RESPONSE_CREATE)
        while True:
            text = await upstream.receive()
            if text is None:
                raise ProbeFailed("the upstream closed the session before answering")
            event = json.loads(text)
            kind = event.get("type") if isinstance(event, dict) else None
            if kind == "error":
                raise _failed(event.get("error"), "the session answered an error event")
            if kind == "response.done":
                response = event.get("response") or {}
                if response.get("status") in ("failed", "cancelled"):
                    raise _failed(
                        (response.get("status_details") or {}).get("error"),
                        f"the response ended {response.get('status')}",
                    )
                return
    finally:
        await upstream.close()


async def video(adapter: Adapter, call: Call) -> None:
    """Create a job and read its status once: accepted and not failed is usable."""
    created = await adapter.send(call)
    video_id = (created.body or {}).get("id")
    if not isinstance(video_id, str):
        raise ProbeFailed("the upstream answered a video job without an id")
    status = await adapter.send(_follow_up(call, video_id))
    if (status.body or {}).get("status") == "failed":
        raise _failed((status.body or {}).get("error"), "the video job failed")


def _follow_up(call: Call, video_id: str) -> Call:
    from dataclasses import replace

    return replace(
        call, endpoint="videos.retrieve", body={"model": call.body["model"], "video_id": video_id}
    )


def _failed(error: Any, fallback: str) -> ProbeFailed:
    if isinstance(error, dict):
        failure = ProbeFailed(str(error.get("message") or fallback))
        failure.code = str(error.get("code") or error.get("type") or "upstream_error")
        return failure
    return ProbeFailed(fallback)


async def send(adapter: Adapter, call: Call) -> None:
    await (realtime if call.endpoint == "realtime" else video)(adapter, call)
