"""Native tools reach each upstream in its protocol's own spelling, or are dropped and named:
the official SDK through the proxy to recording fake upstreams of each protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams import gemini as fake_gemini
from tests.upstreams.openai_like import FakeOpenAI
from tests.upstreams.server import serve_asgi

TOOLS = ["web_search", "code_execution", "url_context"]
NATIVE = {
    name: {
        "name": name,
        "description": None,
        "applies_to": ["chat"],
        "spellings": {},
        "price_per_call": "0.01" if name == "web_search" else "0",
        "currency": "USD",
    }
    for name in TOOLS
}
PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "1", "output": "1"}
ASK: Any = [{"role": "user", "content": "Who won Euro 2024?"}]


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[str, FakeOpenAI, fake_gemini.FakeGemini]]:
    openai_like, gemini = FakeOpenAI(), fake_gemini.FakeGemini()
    with serve_asgi(openai_like.app) as o_url, serve_asgi(gemini.app) as g_url:
        protocols = {
            "openai": f"{o_url}/v1",
            "dashscope": f"{o_url}/v1",
            "volcengine": f"{o_url}/v1",
            "gemini": f"{g_url}/v1beta",
        }
        data = snapshot_dict(
            providers=[provider(p, protocol=p, base_url=url) for p, url in protocols.items()],
            models=[model(f"m-{p}", native_tools=TOOLS) for p in protocols],
            channels=[
                channel(
                    f"c-{p}",
                    f"m-{p}",
                    p,
                    upstream_model=f"up-{p}",
                    price=PRICE,
                    price_source="inline",
                )
                for p in protocols
            ],
            consumers=[consumer("alice", KEY_ALICE)],
            native_tools=NATIVE,
        )
        with running_proxy(data) as (url, _):
            yield url, openai_like, gemini


def ask(url: str, name: str, tools: list[str]) -> Any:
    return client(url).chat.completions.with_raw_response.create(
        model=name, messages=ASK, tools=[{"type": t} for t in tools]
    )  # type: ignore[misc]


def test_openai_chat_gets_web_search_options_and_names_what_it_cannot_carry(proxied):
    url, upstream, _ = proxied
    answer = ask(url, "m-openai", ["web_search", "code_execution"])
    sent = upstream.requests_for("up-openai")[-1]["body"]
    assert sent["web_search_options"] == {} and "tools" not in sent
    assert answer.headers["x-modelyard-dropped-tools"] == "code_execution"
    reply = answer.parse()
    assert reply.choices[0].message.content == "fake answer from up-openai"
    # the answer cites the web: one search, billed at 0.01 beside 5 + 4 tokens at 1 per million
    assert reply.usage.native_tool_calls == {"web_search": 1}  # type: ignore[union-attr]
    assert answer.headers["x-modelyard-cost"] == "0.010009"


def test_dashscope_gets_enable_search(proxied):
    url, upstream, _ = proxied
    answer = ask(url, "m-dashscope", ["web_search"])
    sent = upstream.requests_for("up-dashscope")[-1]["body"]
    assert sent["enable_search"] is True and "tools" not in sent
    assert "x-modelyard-dropped-tools" not in answer.headers


def test_protocol_without_the_tool_drops_it_and_says_so(proxied):
    url, upstream, _ = proxied
    answer = ask(url, "m-volcengine", ["web_search"])
    sent = upstream.requests_for("up-volcengine")[-1]["body"]
    assert "tools" not in sent and "web_search_options" not in sent
    assert answer.headers["x-modelyard-dropped-tools"] == "web_search"
    assert answer.parse().choices[0].message.content == "fake answer from up-volcengine"


def test_gemini_gets_its_three_tools_and_bills_the_grounded_search(proxied):
    url, _, gemini = proxied
    answer = ask(url, "m-gemini", TOOLS)
    sent = gemini.requests[-1]["body"]
    assert sent["tools"] == [{"code_execution": {}}, {"url_context": {}}, {"google_search": {}}]
    assert "x-modelyard-dropped-tools" not in answer.headers
    # 8 + 10 tokens at 1 per million, plus one grounded search at 0.01
    assert answer.headers["x-modelyard-cost"] == "0.010018"
    assert answer.parse().usage.native_tool_calls == {"web_search": 1}  # type: ignore[attr-defined]


def test_function_tools_travel_beside_the_native_spelling(proxied):
    url, _, gemini = proxied
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
    answer = client(url).chat.completions.create(
        model="m-gemini", messages=ASK, tools=[weather, {"type": "web_search"}]
    )  # type: ignore[list-item]
    sent = gemini.requests[-1]["body"]
    assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert sent["tools"][1:] == [{"google_search": {}}]
    assert answer.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_gemini_streamed_grounded_search_is_reported_in_the_usage(proxied):
    url, _, gemini = proxied
    chunks = list(
        client(url).chat.completions.create(
            model="m-gemini",
            messages=ASK,
            tools=[{"type": "web_search"}],  # type: ignore[list-item]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert gemini.requests[-1]["body"]["tools"] == [{"google_search": {}}]
    assert chunks[-1].usage.native_tool_calls == {"web_search": 1}  # type: ignore[union-attr]
