"""The Gemini adapter: request, answer, stream, embedding and error conversion (through the
proxy with the official SDK: tests/test_gemini_sdk.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import pytest

from gateway.errors import InvalidRequest, UpstreamProtocolError
from gateway.proxy.adapters import gemini, gemini_convert
from gateway.proxy.sse import decode
from tests.adapter_support import PIXEL, aiter, assemble, make_call
from tests.upstreams import gemini as fake

KEY = "AIza-test-gemini-key"
SECRETS = {"type": "header", "header": "x-goog-api-key", "value": KEY}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_temperature",
        "description": "Gets the current temperature.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def call(body: dict[str, Any], **kw: Any):
    return make_call(
        body,
        protocol="gemini",
        secrets=SECRETS,
        upstream_model="gemini-2.5-flash",
        base_url="https://generativelanguage.googleapis.com/v1beta",
        **kw,
    )


def request(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return gemini_convert.request_body(call(body, **kw))


# --- requests --------------------------------------------------------------------------------


def test_roles_and_system_instruction():
    out = request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Explain AI"},
            ]
        }
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Hi!"}]},
        {"role": "user", "parts": [{"text": "Explain AI"}]},
    ]


def test_data_url_image_goes_inline_and_http_image_as_file_reference():
    out = request(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": PIXEL}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.jpg?size=2"},
                        },
                    ],
                }
            ]
        }
    )
    parts = out["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PIXEL.split(",", 1)[1]}}
    assert parts[2] == {
        "fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg?size=2"}
    }


def test_an_image_that_is_neither_data_nor_http_url_is_refused_clearly():
    with pytest.raises(InvalidRequest) as err:
        request(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
                        ],
                    }
                ]
            }
        )
    assert err.value.param == "messages[0].content[0]"


def test_tools_and_tool_choice_become_function_declarations_and_calling_config():
    out = request(
        {
            "messages": [{"role": "user", "content": "Weather?"}],
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_current_temperature"}},
        }
    )
    declaration = out["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_current_temperature"
    assert declaration["parametersJsonSchema"] == WEATHER["function"]["parameters"]
    assert out["toolConfig"] == {
        "functionCallingConfig": {
            "mode": "ANY",
            "allowedFunctionNames": ["get_current_temperature"],
        }
    }
    for choice, mode in (("none", "NONE"), ("required", "ANY")):
        got = request(
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [WEATHER],
                "tool_choice": choice,
            }
        )
        assert got["toolConfig"]["functionCallingConfig"] == {"mode": mode}


def test_tool_round_trip_turns_become_function_call_and_named_function_response():
    out = request(
        {
            "messages": [
                {"role": "user", "content": "Weather in London?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1~sig~c2ln",
                            "type": "function",
                            "function": {
                                "name": "get_current_temperature",
                                "arguments": '{"location": "London"}',
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_1~sig~c2ln",
                    "content": '{"temperature": 12}',
                },
                {"role": "user", "content": "And in C?"},
            ]
        }
    )
    assert out["contents"][1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_current_temperature", "args": {"location": "London"}},
                "thoughtSignature": "c2ln",
            }
        ],
    }
    assert out["contents"][2] == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_current_temperature",
                    "response": {"temperature": 12},
                }
            },
            {"text": "And in C?"},
        ],
    }


def test_a_tool_result_that_is_not_a_json_object_is_wrapped():
    out = request(
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            ]
        }
    )
    assert out["contents"][1]["parts"][0]["functionResponse"]["response"] == {"result": "sunny"}


def test_generation_config_mapping():
    out = request(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 100,
            "stop": "END",
            "seed": 7,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}},
            },
        }
    )
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "seed": 7,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }


def test_reasoning_effort_and_channel_thinking_option_drive_thinking_config():
    messages = [{"role": "user", "content": "x"}]
    on = request({"messages": messages, "reasoning_effort": "low"})
    assert on["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 1024,
    }
    off = request({"messages": messages, "reasoning_effort": "none"})
    assert off["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert "generationConfig" not in request({"messages": messages})
    forced = request({"messages": messages}, options={"thinking": "enabled"})
    assert forced["generationConfig"]["thinkingConfig"]["thinkingBudget"] == -1


# --- answers ---------------------------------------------------------------------------------


def test_answer_usage_thoughts_and_finish_reasons():
    data = fake.answer(
        {"contents": [], "generationConfig": {"thinkingConfig": {"includeThoughts": True}}},
        "gemini-2.5-flash",
    )
    data["usageMetadata"]["cachedContentTokenCount"] = 3
    out = gemini_convert.completion(data, model="m", created=1)
    message = out["choices"][0]["message"]
    assert message["content"] == fake.PLAIN and message["reasoning_content"] == fake.THOUGHT
    thoughts = data["usageMetadata"]["thoughtsTokenCount"]
    assert out["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 10 + thoughts,
        "total_tokens": 18 + thoughts,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }
    for reason, mapped in (
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("OTHER", "stop"),
    ):
        data["candidates"][0]["finishReason"] = reason
        assert (
            gemini_convert.completion(data, model="m", created=1)["choices"][0]["finish_reason"]
            == mapped
        )


def test_a_blocked_prompt_answers_content_filter():
    out = gemini_convert.completion(
        {"promptFeedback": {"blockReason": "SAFETY"}}, model="m", created=1
    )
    assert out["choices"][0]["finish_reason"] == "content_filter"


# --- streams ---------------------------------------------------------------------------------


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"data: {json.dumps(e, ensure_ascii=False)}\r\n\r\n".encode() for e in events)


def converted(raw: bytes, cuts: tuple[int, ...] = ()) -> dict[str, Any]:
    bounds = [0, *cuts, len(raw)]
    pieces = [raw[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    converter = gemini_convert.ChunkConverter(model="m", created=1)

    async def run() -> list[dict[str, Any]]:
        return [c async for c in gemini.convert_events(decode(aiter(pieces)), converter)]

    chunks = asyncio.run(run())
    view = assemble(chunks)
    for slot in view["tools"].values():
        slot["id"] = slot["id"].split("_")[0]  # ids are random per conversion
    return view


def test_stream_split_at_every_byte_gives_the_same_client_view():
    body = {"contents": [], "generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    events = fake.stream_events(fake.answer(body, "gemini-2.5-flash"), 3)
    events[-1]["candidates"][0]["content"]["parts"][0]["text"] += " — ünïcode ✓"
    raw = sse(events)
    whole = converted(raw)
    assert whole["content"].startswith(fake.PLAIN) and whole["reasoning"] == fake.THOUGHT
    assert whole["finish"] == "stop" and whole["usage"]["prompt_tokens"] == 8
    assert whole["roles"] == ["assistant"]
    for i in range(len(raw) + 1):
        assert converted(raw, (i,)) == whole, i


def test_streamed_function_call_split_at_every_byte():
    body = {"contents": [], "tools": [{"functionDeclarations": [{"name": "f"}]}]}
    raw = sse(fake.stream_events(fake.answer(body, "m"), 2))
    whole = converted(raw)
    assert whole["finish"] == "tool_calls"
    assert whole["tools"] == {0: {"id": "call", "name": "f", "arguments": {"location": "London"}}}
    for i in range(0, len(raw) + 1, 3):
        assert converted(raw, (i,)) == whole, i


def test_a_stream_that_stops_before_its_finish_reason_was_cut():
    events = fake.stream_events(fake.answer({"contents": []}, "m"), 3)
    with pytest.raises(UpstreamProtocolError):
        converted(sse(events[:-1]))


def test_an_error_event_mid_stream_ends_it_with_an_upstream_error():
    events = fake.stream_events(fake.answer({"contents": []}, "m"), 3)
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(UpstreamProtocolError):
        converted(sse([events[0], error]))


def test_base64_embeddings_are_little_endian_float32():
    out = gemini_convert.embedding_list(
        {"embeddings": [{"values": [1.5, -2.0]}]}, model="m", encoding="base64"
    )
    assert struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"])) == (1.5, -2.0)
