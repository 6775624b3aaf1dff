"""The proxy in front of a fake Anthropic and a fake OpenAI upstream, for the tests of the
client schemas other than chat (Anthropic Messages, OpenAI Responses)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.proxy.app import ProxyApp
from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    consumer,
    holder_of,
    model,
    provider,
    snapshot_dict,
)
from tests.upstreams import anthropic as fake_anthropic
from tests.upstreams.openai_agentic import API_KEY as OPENAI_KEY
from tests.upstreams.openai_agentic import FakeAgentic
from tests.upstreams.server import serve_asgi

CLAUDE_PRICE = {
    "currency": "USD",
    "unit": "per_million_tokens",
    "input": "3",
    "output": "15",
    "cached_input": "0.30",
    "cache_write": "3.75",
}
GPT_PRICE = {
    "currency": "USD",
    "unit": "per_million_tokens",
    "input": "2.50",
    "output": "10",
    "cached_input": "1.25",
}
ENVIRON = {"ANTHROPIC_API_KEY": fake_anthropic.API_KEY, "OPENAI_API_KEY": OPENAI_KEY}
CAPABILITIES = [
    "streaming",
    "tools",
    "image_input",
    "reasoning",
    "json_schema",
    "json_object",
    "stream_function_call",
    "parallel_tool_calls",
]


@dataclass
class Served:
    url: str
    anthropic: list[dict[str, Any]]  # what reached the fake Anthropic upstream
    openai: FakeAgentic
    log_path: Path
    app: ProxyApp


def catalog(anthropic_url: str, openai_url: str, **settings: Any) -> dict[str, Any]:
    """Per upstream protocol: a model with one channel, one whose first channel is
    overloaded, and one whose only channel is."""

    def claude(name: str, model_name: str, upstream: str, priority: str = "normal") -> dict:
        return channel(
            name,
            model_name,
            "anthropic",
            upstream_model=upstream,
            priority=priority,
            price=CLAUDE_PRICE,
            price_source="inline",
        )

    def gpt(
        name: str, model_name: str, upstream: str, priority: str = "normal", **options: Any
    ) -> dict:
        return channel(
            name,
            model_name,
            "openai",
            upstream_model=upstream,
            priority=priority,
            price=GPT_PRICE,
            price_source="inline",
            options=options,
        )

    names = [
        "claude",
        "claude-failover",
        "claude-busy",
        "claude-cut",
        "gpt",
        "gpt-failover",
        "gpt-busy",
        "gpt-compatible",
    ]
    return snapshot_dict(
        settings=settings,
        providers=[
            provider(
                "anthropic",
                protocol="anthropic",
                base_url=anthropic_url,
                auth={"type": "header", "header": "x-api-key", "value": "${ANTHROPIC_API_KEY}"},
            ),
            provider(
                "openai",
                base_url=f"{openai_url}/v1",
                auth={"type": "bearer", "token": "${OPENAI_API_KEY}"},
            ),
        ],
        models=[model(name, capabilities=CAPABILITIES) for name in names],
        channels=[
            claude("claude-c", "claude", "claude-sonnet-4-5"),
            claude("claude-busy-c", "claude-failover", "overloaded", "high"),
            claude("claude-ok-c", "claude-failover", "claude-sonnet-4-5"),
            claude("claude-only-busy-c", "claude-busy", "overloaded"),
            claude("claude-cut-c", "claude-cut", "stream-error"),
            gpt("gpt-c", "gpt", "gpt-4o"),
            gpt("gpt-busy-c", "gpt-failover", "overloaded", "high"),
            gpt("gpt-ok-c", "gpt-failover", "gpt-4o"),
            gpt("gpt-only-busy-c", "gpt-busy", "overloaded"),
            gpt("gpt-compatible-c", "gpt-compatible", "gpt-4o", responses_api=False),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )


@contextmanager
def serving(tmp_path: Path, **app_options: Any) -> Iterator[Served]:
    """The two fakes and the proxy in front of them, writing its usage log under tmp_path."""
    received: list[dict[str, Any]] = []
    openai_fake = FakeAgentic()
    log_path = tmp_path / "usage.jsonl"
    with (
        serve_asgi(fake_anthropic.make_app(received)) as anthropic_url,
        serve_asgi(openai_fake.app) as openai_url,
    ):
        data = catalog(anthropic_url, openai_url)
        app = ProxyApp(
            holder_of(data, ENVIRON), rng=random.Random(1), usage_log=str(log_path), **app_options
        )
        with serve_asgi(app) as url:
            yield Served(url, received, openai_fake, log_path, app)
        app.accountant.close()
