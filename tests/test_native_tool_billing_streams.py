"""A native tool call costs the same streamed as plain, on every protocol that reports it:
OpenAI chat (a cited answer ran one search), the Responses API passed through
(`web_search_call` items), Gemini (grounding metadata), Bedrock Converse (Nova grounding's
`server_tool_use` blocks) and Anthropic's Messages API passed through
(`usage.server_tool_use`); the official SDKs through the proxy to recording fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest

from gateway.proxy.app import ProxyApp
from tests.adapter_support import BEDROCK_AUTH, WEB_SEARCH, streamed_text
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    holder_of,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.test_accounting import read_log
from tests.upstreams import anthropic as fake_anthropic
from tests.upstreams import bedrock as fake_bedrock
from tests.upstreams import gemini as fake_gemini
from tests.upstreams import openai_agentic
from tests.upstreams.openai_like import FakeOpenAI
from tests.upstreams.server import serve_asgi

PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "1", "output": "1"}
CLAUDE_PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "3", "output": "15"}
SEARCH = Decimal("0.01")  # WEB_SEARCH's price per call
ASK: Any = [{"role": "user", "content": "Who won Euro 2024?"}]
TOOLS: Any = [{"type": "web_search"}]
ENVIRON = {
    "AWS_ACCESS_KEY_ID": fake_bedrock.ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": fake_bedrock.SECRET_ACCESS_KEY,
    "ANTHROPIC_API_KEY": fake_anthropic.API_KEY,
    "OPENAI_API_KEY": openai_agentic.API_KEY,
}


@dataclass
class Served:
    url: str
    log: Path
    openai: FakeOpenAI
    responses: openai_agentic.FakeAgentic
    bedrock: list[dict[str, Any]]

    def line(self, request_id: str) -> dict[str, Any]:
        """The usage log line of one request (lines are written in batches: polled)."""
        found: list[dict[str, Any]] = []

        def written() -> bool:
            found[:] = [x for x in read_log(self.log, 1) if x["request_id"] == request_id]
            return bool(found)

        poll(written)
        return found[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    chat, responses, gemini = FakeOpenAI(), openai_agentic.FakeAgentic(), fake_gemini.FakeGemini()
    bedrock_received: list[dict[str, Any]] = []
    log = tmp_path_factory.mktemp("streams") / "usage.jsonl"
    with (
        serve_asgi(chat.app) as chat_url,
        serve_asgi(responses.app) as responses_url,
        serve_asgi(gemini.app) as gemini_url,
        serve_asgi(fake_bedrock.make_app(bedrock_received)) as bedrock_url,
        serve_asgi(fake_anthropic.make_app([])) as anthropic_url,
    ):
        upstreams = {  # model: (protocol, base URL, upstream model)
            "m-openai": ("openai", f"{chat_url}/v1", "gpt-4o-search-preview"),
            "m-dashscope": ("dashscope", f"{chat_url}/v1", "qwen-plus"),
            "m-responses": ("openai", f"{responses_url}/v1", "gpt-4.1"),
            "m-gemini": ("gemini", f"{gemini_url}/v1beta", "gemini-2.5-flash"),
            "m-nova": ("bedrock", bedrock_url, "us.amazon.nova-premier-v1:0"),
            "m-claude": ("anthropic", anthropic_url, "claude-sonnet-4-5"),
        }
        auths: dict[str, Any] = {
            "m-responses": {"type": "bearer", "token": "${OPENAI_API_KEY}"},
            "m-nova": BEDROCK_AUTH,
            "m-claude": {"type": "header", "header": "x-api-key", "value": "${ANTHROPIC_API_KEY}"},
        }
        data = snapshot_dict(
            providers=[
                provider(
                    f"p-{name}", protocol=p, base_url=url, auth=auths.get(name, {"type": "none"})
                )
                for name, (p, url, _) in upstreams.items()
            ],
            models=[model(name, native_tools=["web_search"]) for name in upstreams],
            channels=[
                channel(
                    f"c-{name}",
                    name,
                    f"p-{name}",
                    upstream_model=up,
                    price=CLAUDE_PRICE if p == "anthropic" else PRICE,
                    price_source="inline",
                )
                for name, (p, _, up) in upstreams.items()
            ],
            consumers=[consumer("alice", KEY_ALICE)],
            native_tools={"web_search": WEB_SEARCH},
        )
        app = ProxyApp(holder_of(data, ENVIRON), usage_log=str(log))
        with serve_asgi(app) as url:
            yield Served(url, log, chat, responses, bedrock_received)
        app.accountant.close()


def chat_both_ways(served: Served, name: str) -> tuple[dict, dict, Any]:
    """The log lines of one plain and one streamed chat request, and the plain answer."""
    api = client(served.url)
    plain = api.chat.completions.with_raw_response.create(model=name, messages=ASK, tools=TOOLS)
    streamed = api.chat.completions.with_raw_response.create(
        model=name, messages=ASK, tools=TOOLS, stream=True
    )
    chunks = list(streamed.parse())
    assert chunks and not any(c.usage for c in chunks)  # the client asked for no usage
    lines = (
        served.line(plain.headers["x-request-id"]),
        served.line(streamed.headers["x-request-id"]),
    )
    assert Decimal(plain.headers["x-modelyard-cost"]) == Decimal(lines[0]["cost"])
    return lines[0], lines[1], plain.parse()


def tokens(line: dict[str, Any]) -> Decimal:
    """The cost of a line's tokens at PRICE (1 per million in and out)."""
    usage = line["usage"]
    return Decimal(usage.get("input_tokens", 0) + usage.get("output_tokens", 0)) / 1_000_000


def test_openai_chat_streamed_search_costs_what_the_plain_one_does(served):
    plain, streamed, answer = chat_both_ways(served, "m-openai")
    sent = [r["body"] for r in served.openai.requests_for("gpt-4o-search-preview")]
    assert [b.get("stream", False) for b in sent[-2:]] == [False, True]
    assert all(b["web_search_options"] == {} for b in sent[-2:])
    assert answer.usage.native_tool_calls == {"web_search": 1}  # type: ignore[union-attr]
    for line in (plain, streamed):
        assert line["usage"]["tool_calls"] == {"web_search": 1}
        # 5 + 4 tokens at 1 per million, plus one search at 0.01
        assert line["cost"] == "0.010009"
    assert streamed["stream"] is True


def test_openai_chat_stream_shows_the_search_in_the_usage_the_client_asked_for(served):
    chunks = list(
        client(served.url).chat.completions.create(
            model="m-openai",
            messages=ASK,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert any(c.choices and getattr(c.choices[0].delta, "annotations", None) for c in chunks)
    assert chunks[-1].usage.native_tool_calls == {"web_search": 1}  # type: ignore[union-attr]


def test_openai_chat_answer_without_citations_bills_no_search(served):
    # the search model was not asked to search: no web_search_options, no citation
    api = client(served.url)
    raw = api.chat.completions.with_raw_response.create(model="m-openai", messages=ASK, stream=True)
    list(raw.parse())
    line = served.line(raw.headers["x-request-id"])
    assert "tool_calls" not in line["usage"] and line["cost"] == "0.000009"


def test_gemini_streamed_grounding_costs_what_the_plain_one_does(served):
    plain, streamed, _ = chat_both_ways(served, "m-gemini")
    for line in (plain, streamed):
        assert line["usage"]["tool_calls"] == {"web_search": 1}
        assert Decimal(line["cost"]) == tokens(line) + SEARCH
    assert plain["cost"] == streamed["cost"]


def test_bedrock_nova_grounding_is_billed_and_never_shown_as_a_tool_call(served):
    plain, streamed, answer = chat_both_ways(served, "m-nova")
    sent = [r["body"] for r in served.bedrock[-2:]]
    assert all(
        b["toolConfig"]["tools"] == [{"systemTool": {"name": "nova_grounding"}}] for b in sent
    )
    assert answer.choices[0].message.content == fake_bedrock.GROUNDED
    assert not answer.choices[0].message.tool_calls
    assert answer.choices[0].finish_reason == "stop"
    for line in (plain, streamed):
        assert line["usage"]["tool_calls"] == {"web_search": 1}
        assert line["usage"]["input_tokens"] == fake_bedrock.GROUNDED_USAGE[0]
        # 1320 + 24 tokens at 1 per million, plus one grounded search at 0.01
        assert line["cost"] == "0.011344"


def test_bedrock_streamed_grounding_sends_the_client_text_only(served):
    chunks = list(
        client(served.url).chat.completions.create(
            model="m-nova", messages=ASK, tools=TOOLS, stream=True
        )
    )
    text = streamed_text(chunks)
    assert text == fake_bedrock.GROUNDED
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_responses_passed_through_bill_each_web_search_call_plain_and_streamed(served):
    api = client(served.url)
    baseline = api.responses.with_raw_response.create(model="m-responses", input="Hello")
    plain = api.responses.with_raw_response.create(
        model="m-responses", input="Who won Euro 2024?", tools=[{"type": "web_search"}]
    )
    with api.responses.with_streaming_response.create(
        model="m-responses",
        input="Who won Euro 2024?",
        tools=[{"type": "web_search"}],
        stream=True,
    ) as streamed:
        streamed.read()
    sent = [r["body"] for r in served.responses.requests if r["path"] == "/v1/responses"]
    assert sent[-1]["tools"] == [{"type": "web_search"}] and sent[-1]["stream"] is True
    answer = plain.parse()
    assert [item.type for item in answer.output] == ["web_search_call", "message"]
    assert answer.output_text == openai_agentic.SEARCH_ANSWER
    lines = [served.line(r.headers["x-request-id"]) for r in (baseline, plain, streamed)]
    assert "tool_calls" not in lines[0]["usage"]
    # the fake reports the same tokens for every answer: a search adds its price, no more
    for line in lines[1:]:
        assert line["usage"]["tool_calls"] == {"web_search": 1}
        assert Decimal(line["cost"]) == Decimal(lines[0]["cost"]) + SEARCH
    assert Decimal(plain.headers["x-modelyard-cost"]) == Decimal(lines[1]["cost"])


def test_messages_passed_through_bill_anthropics_server_tool_use(served):
    sdk = anthropic.Anthropic(base_url=served.url, api_key=KEY_ALICE, max_retries=0, timeout=15)
    search: Any = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]
    plain = sdk.messages.with_raw_response.create(
        model="m-claude",
        max_tokens=1024,
        messages=[{"role": "user", "content": "When was Claude Shannon born?"}],
        tools=search,
    )
    with sdk.messages.with_streaming_response.create(
        model="m-claude",
        max_tokens=1024,
        messages=[{"role": "user", "content": "Weather in NYC today?"}],
        tools=search,
        stream=True,
    ) as streamed:
        streamed.read()
    assert plain.parse().usage.server_tool_use.web_search_requests == 1  # type: ignore[union-attr]
    lines = [served.line(r.headers["x-request-id"]) for r in (plain, streamed)]
    for line in lines:
        assert line["usage"]["tool_calls"] == {"web_search": 1}
    # the two documented answers differ in tokens; each adds one search at 0.01:
    # 6039 * 3 + 931 * 15 per million plain, 10682 * 3 + 510 * 15 per million streamed
    assert [line["cost"] for line in lines] == ["0.042082", "0.049696"]
    assert plain.headers["x-modelyard-cost"] == "0.042082"


def test_dashscope_search_is_not_billed_because_its_chat_completions_report_no_count(served):
    # the documented limit (docs/capabilities.md): compatible-mode chat reports no search
    # count, so the proxy adds none, plain or streamed
    plain, streamed, _ = chat_both_ways(served, "m-dashscope")
    sent = [r["body"] for r in served.openai.requests_for("qwen-plus")]
    assert all(b["enable_search"] is True for b in sent[-2:])
    for line in (plain, streamed):
        assert "tool_calls" not in line["usage"]
        assert Decimal(line["cost"]) == tokens(line)
