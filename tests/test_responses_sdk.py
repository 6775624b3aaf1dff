"""`/v1/responses` driven by the official `openai` SDK and the OpenAI Agents SDK: passed
through to an OpenAI upstream, translated for an Anthropic one; both fakes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.client_support import Served, serving
from tests.conftest import KEY_ALICE, KEY_BOB, client
from tests.test_messages_sdk import logged
from tests.upstreams import openai_agentic as fake_openai

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
PASS_THROUGH, TRANSLATED = "gpt", "claude"
BOTH = pytest.mark.parametrize("target", [PASS_THROUGH, TRANSLATED])
GREETINGS = {PASS_THROUGH: fake_openai.GREETING, TRANSLATED: "Hi! My name is Claude."}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("responses")) as served:
        yield served


@pytest.fixture(scope="module")
def api(served) -> openai.OpenAI:
    return client(served.url)


def last_native(served: Served) -> dict[str, Any]:
    return [r for r in served.openai.requests if r["path"] == "/v1/responses"][-1]["body"]


@BOTH
def test_plain_response(api, served, target):
    response = api.responses.create(model=target, input="Hello", instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.model == target
    assert response.output_text == GREETINGS[target]
    assert response.id.startswith("resp_")
    if target == PASS_THROUGH:
        sent = last_native(served)
        assert (sent["model"], sent["instructions"], sent["store"]) == (
            "gpt-4o",
            "Be brief.",
            False,
        )
        assert response.usage.input_tokens == 37
    else:
        assert served.anthropic[-1]["body"]["system"] == "Be brief."
        assert (response.usage.input_tokens, response.usage.output_tokens) == (2095, 503)


@BOTH
def test_streamed_response_events_in_order(api, target):
    events = list(api.responses.create(model=target, input="Hello", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expected = fake_openai.GREETING if target == PASS_THROUGH else "Hello!"
    assert text == events[-1].response.output_text == expected
    assert events[-1].response.model == target


@BOTH
def test_stream_helper_gives_the_final_response(api, target):
    with api.responses.stream(model=target, input="Weather in SF?", tools=[WEATHER]) as stream:
        final = stream.get_final_response()
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert call.name == "get_weather" and "San Francisco" in call.arguments


@BOTH
def test_function_call_round_trip_with_previous_response_id(api, served, target):
    first = api.responses.create(
        model=target, input="What is the weather in San Francisco?", tools=[WEATHER]
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather"
    second = api.responses.create(
        model=target,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "15 degrees"}],
    )
    assert "15 degrees" in second.output_text
    assert second.previous_response_id == first.id
    if target == PASS_THROUGH:
        sent = last_native(served)["input"]
        assert [item["type"] for item in sent] == [
            "message",
            "function_call",
            "function_call_output",
        ]
        assert "previous_response_id" not in last_native(served)
    else:
        turns = served.anthropic[-1]["body"]["messages"]
        assert turns[1]["content"][-1]["type"] == "tool_use"
        assert turns[2]["content"][0] == {
            "type": "tool_result",
            "tool_use_id": call.call_id,
            "content": "15 degrees",
        }


@BOTH
def test_streamed_function_call_round_trip(api, target):
    events = list(
        api.responses.create(model=target, input="Weather in SF?", tools=[WEATHER], stream=True)
    )
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    first = events[-1].response
    (call,) = [item for item in first.output if item.type == "function_call"]
    second = api.responses.create(
        model=target,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "15 degrees"}],
        stream=True,
    )
    assert "15 degrees" in list(second)[-1].response.output_text


@BOTH
def test_retrieve_list_input_items_and_delete(api, served, target):
    created = api.responses.create(model=target, input="Hello")
    got = api.responses.retrieve(created.id)
    assert (got.id, got.output_text) == (created.id, created.output_text)
    items = api.responses.input_items.list(created.id)
    assert [item.role for item in items.data] == ["user"]
    other = client(served.url, KEY_BOB)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(created.id)
    with pytest.raises(openai.BadRequestError):
        other.responses.create(model=target, input="Hi", previous_response_id=created.id)
    api.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(created.id)


def test_a_channel_without_the_responses_api_gets_it_translated(api, served):
    response = api.responses.create(model="gpt-compatible", input="Hello", instructions="Hi.")
    assert response.output_text == fake_openai.GREETING
    last = served.openai.requests[-1]
    assert last["path"] == "/v1/chat/completions"
    assert last["body"]["messages"][0] == {"role": "system", "content": "Hi."}


def test_store_false_keeps_nothing(api):
    created = api.responses.create(model=PASS_THROUGH, input="Hello", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        api.responses.retrieve(created.id)


@BOTH
def test_overloaded_channel_fails_over(api, target):
    raw = api.responses.with_raw_response.create(model=f"{target}-failover", input="Hello")
    assert raw.headers["x-modelyard-attempts"] == "2"
    assert raw.parse().output_text == GREETINGS[target]


def test_usage_and_cost_equal_what_the_upstream_reported(api, served):
    native = api.responses.with_raw_response.create(model=PASS_THROUGH, input="Hello")
    translated = api.responses.with_raw_response.create(model=TRANSLATED, input="Hello")
    with api.responses.with_streaming_response.create(
        model=PASS_THROUGH, input="Hello", stream=True
    ) as streamed:
        streamed.read()
    lines = [logged(served, r.headers["x-request-id"]) for r in (native, translated, streamed)]
    gpt_cost = (32 * Decimal("2.50") + 5 * Decimal("1.25") + 12 * Decimal(10)) / 1_000_000
    for line in (lines[0], lines[2]):
        assert line["usage"] == {"input_tokens": 37, "cached_input_tokens": 5, "output_tokens": 12}
        assert Decimal(line["cost"]) == gpt_cost
    assert Decimal(native.headers["x-modelyard-cost"]) == gpt_cost
    assert lines[1]["usage"] == {"input_tokens": 2095, "output_tokens": 503}
    assert Decimal(lines[1]["cost"]) == (2095 * Decimal(3) + 503 * Decimal(15)) / 1_000_000


@BOTH
def test_agents_sdk_runs_an_agent_with_a_function_tool(served, target):
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    calls: list[str] = []

    @agents.function_tool
    def get_weather(location: str) -> str:
        """Get the current weather in a given location."""
        calls.append(location)
        return "15 degrees"

    model = agents.OpenAIResponsesModel(
        model=target,
        openai_client=openai.AsyncOpenAI(
            base_url=f"{served.url}/v1", api_key=KEY_ALICE, max_retries=0
        ),
    )
    agent = agents.Agent(
        name="weather", instructions="Answer weather questions.", tools=[get_weather], model=model
    )
    result = agents.Runner.run_sync(agent, "What is the weather in San Francisco?")
    assert calls == ["San Francisco, CA"]
    assert "15 degrees" in result.final_output
