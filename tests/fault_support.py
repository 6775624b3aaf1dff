"""The fault suite's bench: a catalog over the faulty fake, a summarising client, task counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from gateway.proxy.app import ProxyApp
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.upstreams.faulty import refused_url

USER = [{"role": "user", "content": "hi"}]
ENV = {"FAULT_KEY": "upstream-secret"}
BUDGET = 2
TOTAL_S = 3.0
TOLERANCE_S = 0.5


def fault_catalog(url: str, *, threshold: int = 5, **settings: Any) -> dict:
    """Models m1 (channel a) and m3 (a high, b normal, c low) on the fake; r1 and r3 the same
    but with a's provider listening nowhere. A channel `<model>-<x>` asks for upstream model x."""
    layout = [("m1", 1, "fake"), ("m3", 3, "fake"), ("r1", 1, "dead"), ("r3", 3, "dead")]
    channels = [
        channel(
            f"{name}-{x}", name, first if x == "a" else "fake", upstream_model=x, priority=priority
        )
        for name, count, first in layout
        for x, priority in [("a", "high"), ("b", "normal"), ("c", "low")][:count]
    ]
    return snapshot_dict(
        settings={
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 0.5,
            "total_timeout_s": TOTAL_S,
            "retry_budget": BUDGET,
            "breaker": {"failure_threshold": threshold, "cooldown_s": 30, "max_cooldown_s": 300},
            **settings,
        },
        providers=[
            provider("fake", base_url=url, auth={"type": "bearer", "token": "${FAULT_KEY}"}),
            provider("dead", base_url=refused_url()),
        ],
        models=[model(name) for name, _, _ in layout],
        channels=channels,
        consumers=[consumer("alice", KEY_ALICE)],
    )


@dataclass
class Result:
    """What the client saw: status (200 once a stream started), code, text, routing headers."""

    status: int
    code: str | None = None
    text: str = ""
    mid_stream_error: bool = False
    attempts: int = 0
    channel: str | None = None
    elapsed: float = 0.0
    headers: dict = field(default_factory=dict)


def ask(url: str, model_name: str = "m3", *, stream: bool) -> Result:
    """One chat request through the official SDK, summarised."""
    start = time.monotonic()
    try:
        raw = client(url).chat.completions.with_raw_response.create(
            model=model_name, messages=USER, stream=stream
        )
    except openai.APIStatusError as error:
        headers = error.response.headers
        return Result(
            error.status_code,
            error.code,
            attempts=int(headers["x-modelyard-attempts"])
            if "x-modelyard-attempts" in headers
            else 0,
            channel=headers.get("x-modelyard-channel"),
            elapsed=time.monotonic() - start,
            headers=dict(headers),
        )
    result = Result(
        raw.http_response.status_code,
        attempts=int(raw.headers["x-modelyard-attempts"]),
        channel=raw.headers["x-modelyard-channel"],
        headers=dict(raw.headers),
    )
    if stream:
        try:
            for chunk in raw.parse():
                if chunk.choices:
                    result.text += chunk.choices[0].delta.content or ""
        except openai.APIError as error:
            result.mid_stream_error, result.code = True, error.code
    else:
        answer = raw.parse()  # a str when the proxy passed on something that is not JSON
        result.text = answer.choices[0].message.content if hasattr(answer, "choices") else "?"
    result.elapsed = time.monotonic() - start
    return result


class LoopSpy:
    """Wraps an ASGI app to reach the event loop it runs on, so tests can count its tasks."""

    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope, receive, send) -> None:
        self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(2)


def settle(condition: Callable[[], bool], within: float = 1.0) -> float:
    """Seconds until `condition()` held (polled), or fail after `within` seconds."""
    return poll(condition, within)
