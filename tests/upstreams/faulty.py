"""A fault-injecting fake OpenAI upstream: FakeOpenAI plus the faults real upstreams show.

Behaviours added to FakeOpenAI's (pushed the same way, for every request or per upstream
model): {"invalid_json": True} (a 200 whose JSON body is unreadable), {"html": True} (a 200
HTML error page, as a load balancer in front of an upstream sends), {"stall": "body"} on a
plain request (half a JSON body, then silence), {"malformed_chunk": N} (the stream's N-th
event is not JSON), {"no_done": True} (a complete stream without `data: [DONE]`),
{"end_after": N} (the stream ends cleanly after N events, before the answer did),
{"trickle": seconds} (a pause before every streamed event), {"stall_after": N} (silence
after the stream's N-th event). Every request is recorded with its arrival time (`at`,
time.monotonic()); `active_streams` counts the response streams still running, so a test
can see the proxy hang up.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.upstreams.openai_like import FakeOpenAI
from tests.upstreams.server import serve_asgi

HALF_A_REPLY = b'{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"ind'
MALFORMED_EVENT = b'data: {"choices": [{"delta": {"content": "x\n\n'


class FaultyOpenAI(FakeOpenAI):
    """FakeOpenAI with more faults, arrival times and a count of running response streams."""

    def __init__(self, name: str = "fake") -> None:
        super().__init__(name)
        self.active_streams = 0
        self.streams_closed = 0  # response streams that ended, completely or not

    def reset(self) -> None:
        """Forget what was received and scripted, so one fake can serve many tests."""
        with self._lock:
            self._script.clear()
        self.requests.clear()
        self.disconnects = 0

    def times(self, model: str | None = None) -> list[float]:
        """Arrival times of the requests (for one upstream model, if given)."""
        chosen = self.requests if model is None else self.requests_for(model)
        return [r["at"] for r in chosen]

    async def _begin(self, request: Request) -> tuple[dict, dict, Response | None]:
        arrived = time.monotonic()
        body, behaviour, early = await super()._begin(request)
        self.requests[-1]["at"] = arrived
        return body, behaviour, early

    def _chat_answer(self, request: Request, body: dict, behaviour: dict) -> Response:
        if behaviour.get("html"):
            return Response(b"<html><body>502 Bad Gateway</body></html>", media_type="text/html")
        if behaviour.get("invalid_json"):
            return Response(b'{"id": "chatcmpl-fake", "choices": [', media_type="application/json")
        if behaviour.get("stall") == "body" and not body.get("stream"):
            return StreamingResponse(self._half_then_stall(request), media_type="application/json")
        return super()._chat_answer(request, body, behaviour)

    async def _half_then_stall(self, request: Request) -> AsyncIterator[bytes]:
        yield HALF_A_REPLY
        await self._stall(request)

    async def _stream(
        self, request: Request, model: str, text: str, usage: dict | None, behaviour: dict
    ) -> AsyncIterator[bytes]:
        self.active_streams += 1
        try:
            i = 0
            async for part in super()._stream(request, model, text, usage, behaviour):
                if behaviour.get("no_done") and part.startswith(b"data: [DONE]"):
                    continue
                if i == behaviour.get("end_after"):
                    return
                if i == behaviour.get("stall_after"):
                    await self._stall(request)
                if "trickle" in behaviour:
                    await asyncio.sleep(behaviour["trickle"])
                yield MALFORMED_EVENT if i == behaviour.get("malformed_chunk") else part
                i += 1
        finally:
            self.active_streams -= 1
            self.streams_closed += 1


@contextmanager
def faulty_upstream(name: str = "fake") -> Iterator[tuple[FaultyOpenAI, str]]:
    """A FaultyOpenAI on loopback: (fake, base_url ending in /v1)."""
    fake = FaultyOpenAI(name)
    with serve_asgi(fake.app) as url:
        try:
            yield fake, f"{url}/v1"
        finally:
            fake.release()


_HELD: list[socket.socket] = []  # bound, never listening: the ports stay refused and unused


def refused_url() -> str:
    """A loopback base URL where nothing listens, so every connection is refused; the port
    stays bound for the life of the process, so no later server can take it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return f"http://127.0.0.1:{s.getsockname()[1]}/v1"
