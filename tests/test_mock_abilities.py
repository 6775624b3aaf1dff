"""The built-in mock exercises every chat capability offline: tool calls, tool results, JSON
that follows a schema, n, max_tokens, stop, streamed tool calls in pieces, usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
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

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": WEATHER_PARAMS},
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}
CAPABILITIES = [
    "tools",
    "parallel_tool_calls",
    "streaming",
    "stream_function_call",
    "json_object",
    "json_schema",
]
PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "0", "output": "0"}


@pytest.fixture(scope="module")
def sdk() -> Iterator[Any]:
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("agent", capabilities=CAPABILITIES, native_tools=["web_search"])],
        channels=[
            channel(
                "agent@mock",
                "agent",
                "mock",
                upstream_model="mock-chat",
                price=PRICE,
                price_source="inline",
            )
        ],
        consumers=[consumer("alice", KEY_ALICE)],
        native_tools={
            "web_search": {
                "name": "web_search",
                "description": None,
                "applies_to": ["chat"],
                "spellings": {},
                "price_per_call": "0.01",
                "currency": "USD",
            }
        },
    )
    with running_proxy(data) as (url, _):
        yield client(url)


def ask(sdk: Any, text: str, **kw: Any) -> Any:
    return sdk.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": text}], **kw
    )


def test_required_tool_choice_gets_a_call_whose_arguments_follow_the_schema(sdk):
    answer = ask(sdk, "What is the weather?", tools=[WEATHER], tool_choice="required")
    (call,) = answer.choices[0].message.tool_calls
    assert (call.function.name, answer.choices[0].finish_reason) == ("get_weather", "tool_calls")
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMS)


def test_auto_calls_the_tool_the_message_names_and_answers_otherwise(sdk):
    named = ask(sdk, "Please call get_time for Paris", tools=[WEATHER, TIME])
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_time"]
    plain = ask(sdk, "Just say hello", tools=[WEATHER, TIME])
    assert plain.choices[0].message.tool_calls is None
    assert plain.choices[0].message.content == "Mock answer from mock-chat: Just say hello"


def test_named_tool_choice_and_parallel_calls(sdk):
    forced = ask(
        sdk,
        "hi",
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in forced.choices[0].message.tool_calls] == ["get_time"]
    both = ask(sdk, "use get_weather and get_time", tools=[WEATHER, TIME])
    assert [c.function.name for c in both.choices[0].message.tool_calls] == [
        "get_weather",
        "get_time",
    ]
    one = ask(sdk, "use get_weather and get_time", tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(one.choices[0].message.tool_calls) == 1


def test_tool_result_is_answered_with_text(sdk):
    first = ask(sdk, "weather?", tools=[WEATHER], tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    answer = sdk.chat.completions.create(
        model="agent",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "weather?"},
            first.choices[0].message.model_dump(),
            {"role": "tool", "tool_call_id": call.id, "content": "21 degrees and sunny"},
        ],
    )
    assert (
        answer.choices[0].message.content
        == "Mock answer from mock-chat: the tool returned 21 degrees and sunny"
    )
    assert answer.choices[0].finish_reason == "stop"


def test_json_schema_answer_validates_and_json_object_parses(sdk):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "nested": {"$ref": "#/$defs/inner"},
        },
        "required": ["name", "tags", "nested"],
        "$defs": {
            "inner": {
                "type": "object",
                "properties": {
                    "ok": {"type": "boolean"},
                    "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            }
        },
    }
    answer = ask(
        sdk,
        "describe",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "thing", "schema": schema, "strict": True},
        },
    )
    jsonschema.validate(json.loads(answer.choices[0].message.content), schema)
    mode = ask(sdk, "describe", response_format={"type": "json_object"})
    assert isinstance(json.loads(mode.choices[0].message.content), dict)


def test_n_max_tokens_and_stop(sdk):
    assert len(ask(sdk, "hello there", n=3).choices) == 3
    cut = ask(sdk, "one two three four five", max_tokens=3).choices[0]
    assert (cut.message.content, cut.finish_reason) == ("Mock answer from", "length")
    stopped = ask(sdk, "one two three", stop=["two"]).choices[0]
    assert (stopped.message.content, stopped.finish_reason) == (
        "Mock answer from mock-chat: one ",
        "stop",
    )


def test_usage_counts_words_and_native_tool_calls(sdk):
    answer = sdk.chat.completions.with_raw_response.create(
        model="agent",
        messages=[{"role": "user", "content": "news today"}],
        tools=[{"type": "web_search"}],
    )
    body = answer.parse()
    assert body.usage.prompt_tokens == 2
    assert body.usage.completion_tokens == len(body.choices[0].message.content.split())
    assert "[used web_search]" in body.choices[0].message.content
    assert answer.headers["x-modelyard-cost"] == "0.01"  # tokens free, one search at 0.01


def test_streamed_tool_call_arrives_in_pieces_with_usage(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="agent",
            messages=[{"role": "user", "content": "weather in Oslo"}],
            tools=[WEATHER],
            tool_choice="required",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    pieces = [d.function.arguments for d in deltas[1:]]
    assert len(pieces) >= 2 and all(d.id is None for d in deltas[1:])
    jsonschema.validate(json.loads("".join(pieces)), WEATHER_PARAMS)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens > 0
