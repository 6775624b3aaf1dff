"""function_call_simulate: tools described in the prompt, JSON answers parsed into tool_calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.proxy.options import simulate_tools
from tests.adapter_support import assemble
from tests.conftest import client, running_proxy
from tests.upstreams import thinking_openai as fake
from tests.upstreams.server import serve_asgi

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
NAMES = frozenset({"get_weather"})
CALL_JSON = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Hangzhou"}}]}'


def test_prepare_removes_tools_and_appends_the_instructions_to_the_system_prompt():
    body = simulate_tools.prepare_body(
        {
            "model": "m",
            "tools": [WEATHER],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather?"},
            ],
        }
    )
    assert {"tools", "tool_choice", "parallel_tool_calls"}.isdisjoint(body)
    system = body["messages"][0]["content"]
    assert system.startswith("Be brief.\n\n") and '"name": "get_weather"' in system
    assert '{"tool_calls": [{"name": "<tool name>"' in system
    assert body["messages"][1] == {"role": "user", "content": "Weather?"}


def test_prepare_adds_a_system_message_when_there_is_none_and_obeys_tool_choice():
    required = simulate_tools.prepare_body(
        {
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    assert required["messages"][0]["role"] == "system"
    assert "You must call the tool 'get_weather' now." in required["messages"][0]["content"]
    off = simulate_tools.prepare_body(
        {"tools": [WEATHER], "tool_choice": "none", "messages": [{"role": "user", "content": "x"}]}
    )
    assert off["messages"] == [{"role": "user", "content": "x"}]


def test_prepare_turns_earlier_calls_and_results_into_plain_turns():
    body = simulate_tools.prepare_body(
        {
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "Weather in two cities?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "A"}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "B"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {
                    "role": "tool",
                    "tool_call_id": "c2",
                    "content": [{"type": "text", "text": "rain"}],
                },
            ],
        }
    )
    assistant, results = body["messages"][2], body["messages"][3]
    assert json.loads(assistant["content"]) == {
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "A"}},
            {"name": "get_weather", "arguments": {"city": "B"}},
        ]
    }
    assert results == {
        "role": "user",
        "content": "Tool result of get_weather (call c1): sunny\n"
        "Tool result of get_weather (call c2): rain",
    }
    assert len(body["messages"]) == 4


@pytest.mark.parametrize(
    "text",
    [
        CALL_JSON,
        f"  {CALL_JSON}\n",
        f"```json\n{CALL_JSON}\n```",
        '{"name": "get_weather", "arguments": {"city": "Hangzhou"}}',
        '{"tool_calls": [{"name": "get_weather", "arguments": "{\\"city\\": \\"Hangzhou\\"}"}]}',
    ],
)
def test_answers_that_are_the_asked_json_become_tool_calls(text):
    calls = simulate_tools.parse_calls(text, NAMES)
    assert [c["function"]["name"] for c in calls] == ["get_weather"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Hangzhou"}
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"


@pytest.mark.parametrize(
    "text",
    [
        "It is sunny.",
        f"Sure: {CALL_JSON}",
        '{"tool_calls": []}',
        '{"tool_calls": [{"name": "launch_rocket", "arguments": {}}]}',
        '{"answer": 42}',
        "{",
    ],
)
def test_anything_else_stays_content(text):
    assert simulate_tools.parse_calls(text, NAMES) is None


def test_finish_reply_sets_tool_calls_and_finish_reason():
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": CALL_JSON},
            }
        ]
    }
    out = simulate_tools.finish_reply({"tools": [WEATHER]}, body)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def run_stream(pieces: list[str]) -> list[dict[str, Any]]:
    async def go():
        async def source():
            yield chunk({"role": "assistant", "content": ""})
            for piece in pieces:
                yield chunk({"content": piece})
            yield chunk({}, "stop")

        return [c async for c in simulate_tools.finish_stream({"tools": [WEATHER]}, source())]

    return asyncio.run(go())


def test_streamed_json_cut_anywhere_becomes_one_tool_call_at_the_end():
    text = f"```json\n{CALL_JSON}\n```"
    for i in range(len(text) + 1):
        view = assemble(run_stream([text[:i], text[i:]]))
        assert view["finish"] == "tool_calls" and view["content"] == "", i
        assert view["tools"][0]["name"] == "get_weather"
        assert view["tools"][0]["arguments"] == {"city": "Hangzhou"}


def test_streamed_prose_flows_live_and_unchanged():
    chunks = run_stream(["It is ", "sunny ", "today."])
    assert chunks[1]["choices"][0]["delta"]["content"] == "It is "  # not held to the end
    view = assemble(chunks)
    assert (view["content"], view["finish"], view["tools"]) == ("It is sunny today.", "stop", {})


def test_streamed_json_that_is_no_tool_call_is_released_as_content():
    view = assemble(run_stream(['{"answer"', ": 42}"]))
    assert (view["content"], view["finish"]) == ('{"answer": 42}', "stop")


# --- end to end: an upstream without native tools, through the proxy ------------------------


@pytest.fixture(scope="module")
def simulated() -> Iterator[tuple[str, fake.FakeThinking]]:
    upstream = fake.FakeThinking("volcengine", "/api/v3")
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "volcengine",
            f"{url}/api/v3",
            model_name="m",
            upstream_model="plain-model",
            key_env="ARK_KEY",
        )
        with running_proxy(data, environ={"ARK_KEY": fake.KEYS["volcengine"]}) as (proxy, _):
            yield proxy, upstream


def test_tool_call_round_trip_through_the_sdk(simulated):
    url, upstream = simulated
    sdk = client(url)
    messages: list[Any] = [{"role": "user", "content": "Weather in Hangzhou?"}]
    first = sdk.chat.completions.create(model="m-sim", messages=messages, tools=[WEATHER])
    assert "tools" not in upstream.requests[-1]["body"]
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Hangzhou"},
    )
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24°C"},
    ]
    second = sdk.chat.completions.create(model="m-sim", messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("Done: Tool result of get_weather")
    assert all(m["role"] != "tool" for m in upstream.requests[-1]["body"]["messages"])


def test_streamed_tool_call_through_the_sdk(simulated):
    url, _ = simulated
    chunks = list(
        client(url).chat.completions.create(
            model="m-sim",
            stream=True,
            tools=[WEATHER],
            messages=[{"role": "user", "content": "Weather in Hangzhou?"}],
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert finishes[-1] == "tool_calls"
    assert [tc.function.name for tc in calls] == ["get_weather"]


def test_without_tools_the_answer_is_plain_content(simulated):
    url, _ = simulated
    answer = client(url).chat.completions.create(
        model="m-sim", messages=[{"role": "user", "content": "Hello"}]
    )
    assert answer.choices[0].message.content == fake.ANSWER
    assert answer.choices[0].message.tool_calls is None


def test_with_tool_choice_none_even_the_json_stays_content():
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": CALL_JSON},
            }
        ]
    }
    out = simulate_tools.finish_reply({"tools": [WEATHER], "tool_choice": "none"}, body)
    assert out["choices"][0]["message"]["content"] == CALL_JSON
