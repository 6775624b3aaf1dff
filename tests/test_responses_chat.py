"""The Responses ↔ chat translator and the Responses events written from chat chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.proxy.clients.responses_chat import input_items, to_chat, to_response
from gateway.proxy.clients.responses_stream import ResponsesEncoder
from tests.adapter_support import PIXEL


def chat(**body: Any) -> dict[str, Any]:
    body = {"model": "m", **body}
    return to_chat(body, input_items(body), {})


def test_string_input_and_instructions():
    out = chat(
        input="Hello", instructions="Be brief.", max_output_tokens=50, reasoning={"effort": "low"}
    )
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]
    assert (out["max_completion_tokens"], out["reasoning_effort"]) == (50, "low")


def test_items_with_calls_outputs_images_and_reasoning():
    out = chat(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is "},
                    {"type": "input_image", "image_url": PIXEL},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking."}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
        ]
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is "},
                {"type": "image_url", "image_url": {"url": PIXEL}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]


def test_tools_tool_choice_and_json_schema_format():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    out = chat(
        input="x",
        tools=[
            {"type": "function", "name": "f", "parameters": schema, "strict": True},
            {"type": "web_search_preview"},
        ],
        tool_choice={"type": "function", "name": "f"},
        text={
            "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
        },
    )
    assert out["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}},
        {"type": "web_search_preview"},
    ]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize(
    "given", [42, [{"type": "item_reference", "id": "x"}], [{"role": "tool", "content": "x"}]]
)
def test_malformed_input_is_refused(given):
    with pytest.raises(InvalidRequest):
        chat(input=given)


def test_chat_answer_becomes_a_response():
    body = {"model": "m", "input": "x", "previous_response_id": "resp_0", "store": False}
    response = to_response(
        {
            "choices": [
                {
                    "finish_reason": "length",
                    "message": {
                        "content": "Hi",
                        "tool_calls": [
                            {"id": "call_1", "function": {"name": "f", "arguments": "{}"}}
                        ],
                    },
                }
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        },
        body,
        id="resp_1",
        model="m",
    )
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["output"][1]["call_id"] == "call_1"
    assert (response["previous_response_id"], response["store"]) == ("resp_0", False)
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12,
    }


def events(data: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(block.split("\ndata: ", 1)[1]) for block in data.decode().strip().split("\n\n")
    ]


def test_stream_events_in_order_with_sequence_numbers():
    writer = ResponsesEncoder({"model": "m", "input": "x"}, id="resp_1", model="m")
    delta = [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]
    call = [
        {
            "index": 0,
            "finish_reason": None,
            "delta": {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}
                ]
            },
        }
    ]
    more = [
        {
            "index": 0,
            "finish_reason": None,
            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
        }
    ]
    out = b"".join(writer.feed({"choices": c}) for c in (delta, call, more))
    out += writer.feed({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    seen = events(out + writer.end())
    assert [e["type"] for e in seen] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in seen] == list(range(len(seen)))
    assert seen[11]["arguments"] == '{"a": 1}' and seen[12]["output_index"] == 1
    final = seen[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hi"
    assert final["usage"]["total_tokens"] == 5 and final["status"] == "completed"
