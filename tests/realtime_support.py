"""What the realtime tests share: a catalog of realtime models over fake upstreams (and the
mock), the proxy in front of it, the official SDK's realtime client, and event helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import openai

from tests.conftest import (
    KEY_ALICE,
    KEY_SERVICE,
    channel,
    consumer,
    failover_chain,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.realtime import FakeRealtime, serve_fake

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
PRICE = {
    "currency": "USD",
    "unit": "per_million_tokens",
    "input": "4",
    "cached_input": "0.4",
    "audio_input": "32",
    "cached_audio_input": "0.4",
    "output": "16",
    "audio_output": "64",
    "session_hour": "0.36",
}


def catalog(urls: list[str], **settings: Any) -> dict:
    """A realtime model over the fake upstreams in `urls` (tried in order) and the mock."""
    providers, channels = failover_chain(
        "voice", urls, key_env="RT_KEY", prefix="rt", upstream_model="gpt-realtime-up", price=PRICE
    )
    return snapshot_dict(
        settings={"system_prompt": "You work for Example Corp.", **settings},
        providers=[*providers, provider("mock", protocol="mock")],
        models=[
            model(
                "voice",
                type="realtime",
                system_prompt="Keep answers short.",
                properties={"voices": ["alloy", "marin"]},
                capabilities=["tools"],
                native_tools=[],
            ),
            model("voice-mock", type="realtime", capabilities=[]),
            model("chatty"),
        ],
        channels=[
            *channels,
            channel("rt-mock", "voice-mock", "mock", upstream_model="mock-realtime", price=PRICE),
            channel("chat-mock", "chatty", "mock"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("ops", KEY_SERVICE, scopes=["public", "admin"]),
        ],
    )


@contextmanager
def setup(
    *fakes: FakeRealtime, usage_log: Path | None = None, **settings: Any
) -> Iterator[tuple[str, list[FakeRealtime]]]:
    with ExitStack() as stack:
        urls = [stack.enter_context(serve_fake(f)) for f in fakes]
        url, _app = stack.enter_context(
            running_proxy(
                catalog(urls, **settings),
                environ={"RT_KEY": "upstream-secret"},
                usage_log=str(usage_log) if usage_log else None,
            )
        )
        yield url, list(fakes)


def sdk(url: str, key: str = KEY_ALICE) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def until(conn: Any, kind: str) -> list[Any]:
    """Events received up to and including the first of type `kind` (bounded wait)."""
    seen = []
    while True:
        event = await asyncio.wait_for(conn.recv(), 5)
        seen.append(event)
        if event.type == kind:
            return seen


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
