"""Native tool calls an upstream reports are billed per call: Anthropic's server tool use,
through the proxy with the official SDK, to the header and the usage log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gateway.proxy.app import ProxyApp
from tests.adapter_support import WEB_SEARCH
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    holder_of,
    model,
    provider,
    snapshot_dict,
)
from tests.test_accounting import read_log
from tests.upstreams import anthropic as fake
from tests.upstreams.server import serve_asgi


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_asgi(fake.make_app([])) as url:
        yield url


CLAUDE_PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "3", "output": "15"}


@pytest.fixture
def priced(upstream, tmp_path) -> Iterator[tuple[openai.OpenAI, Any]]:
    """The proxy with a priced Claude channel allowing web search, and its usage log path."""
    data = snapshot_dict(
        providers=[
            provider(
                "anthropic",
                protocol="anthropic",
                base_url=upstream,
                auth={"type": "header", "header": "x-api-key", "value": "${ANTHROPIC_API_KEY}"},
            )
        ],
        models=[model("claude", native_tools=["web_search"])],
        channels=[
            channel(
                "claude-c",
                "claude",
                "anthropic",
                upstream_model="claude-sonnet-4-5",
                price=CLAUDE_PRICE,
                price_source="inline",
            )
        ],
        consumers=[consumer("alice", KEY_ALICE)],
        native_tools={"web_search": WEB_SEARCH},
    )
    log_path = tmp_path / "usage.jsonl"
    app = ProxyApp(holder_of(data, {"ANTHROPIC_API_KEY": fake.API_KEY}), usage_log=str(log_path))
    with serve_asgi(app) as proxy_url:
        yield client(proxy_url), log_path
    app.accountant.close()


SEARCH_TOOLS: Any = [{"type": "web_search"}]


def test_sdk_plain_web_search_cost_includes_the_per_call_price(priced):
    api, _ = priced
    answer = api.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "user", "content": "When was Claude Shannon born?"}],
        tools=SEARCH_TOOLS,
    )
    # 6039 * 3 + 931 * 15 per million tokens, plus one search at 0.01
    assert answer.headers["x-modelyard-cost"] == "0.042082"
    assert "April 30, 1916" in answer.parse().choices[0].message.content


def test_sdk_streamed_web_search_cost_includes_the_per_call_price(priced):
    api, log_path = priced
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Weather in NYC today?"}],
            tools=SEARCH_TOOLS,
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    (line,) = read_log(log_path, 1)
    # 10682 * 3 + 510 * 15 per million tokens (message_delta counts), plus one search at 0.01
    assert (line["cost"], line["stream"]) == ("0.049696", True)
    assert line["usage"]["tool_calls"] == {"web_search": 1}
