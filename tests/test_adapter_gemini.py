"""The Gemini adapter: request, answer, stream, embedding and error conversion, end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from gateway.errors import InvalidRequest, UpstreamProtocolError
from gateway.proxy.adapters import gemini, gemini_convert
from gateway.proxy.sse import decode
from tests.adapter_support import PIXEL, aiter, assemble, make_call
from tests.conftest import (
    KEY_ALICE,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.conftest import channel as channel_doc
from tests.upstreams import gemini as fake
from tests.upstreams.server import serve_asgi

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


# --- end to end through the proxy ------------------------------------------------------------


@contextmanager
def served() -> Iterator[tuple[str, fake.FakeGemini]]:
    """The proxy over a fresh fake Gemini: a chat model and an embedding model."""
    upstream = fake.FakeGemini()
    with serve_asgi(upstream.app) as url:
        data = snapshot_dict(
            providers=[
                provider(
                    "gemini",
                    protocol="gemini",
                    base_url=f"{url}/v1beta",
                    auth={"type": "header", "header": "x-goog-api-key", "value": "${GEMINI_KEY}"},
                )
            ],
            models=[model("flash"), model("gemini-embed", type="embedding", capabilities=[])],
            channels=[
                channel_doc(
                    "g-flash",
                    "flash",
                    "gemini",
                    upstream_model="gemini-2.5-flash",
                    options={"headers": {"x-team": "search"}},
                ),
                channel_doc(
                    "g-embed", "gemini-embed", "gemini", upstream_model="gemini-embedding-001"
                ),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data, environ={"GEMINI_KEY": KEY}) as (proxy_url, _app):
            yield proxy_url, upstream


@pytest.fixture(scope="module")
def gemini_proxy() -> Iterator[tuple[str, fake.FakeGemini]]:
    with served() as pair:
        yield pair


@pytest.fixture
def fresh_proxy() -> Iterator[tuple[str, fake.FakeGemini]]:
    """For error tests: a failure must not leave the shared channel out of rotation."""
    with served() as pair:
        yield pair


def test_plain_chat_through_the_sdk_sends_the_key_in_the_header_only(gemini_proxy):
    url, upstream = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash", messages=[{"role": "user", "content": "Explain how AI works"}]
    )
    assert answer.choices[0].message.content == fake.PLAIN
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == 8 and answer.usage.completion_tokens == 10
    assert answer.model == "flash"
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == KEY
    assert sent["headers"]["x-team"] == "search"
    assert KEY not in sent["query"] and "authorization" not in sent["headers"]


def test_streamed_chat_through_the_sdk(gemini_proxy):
    url, upstream = gemini_proxy
    chunks = list(
        client(url).chat.completions.create(
            model="flash",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Explain how AI works"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fake.PLAIN
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 18
    sent = upstream.requests[-1]
    assert sent["path"].endswith(":streamGenerateContent") and sent["query"] == "alt=sse"


def test_tool_call_round_trip_through_the_sdk(gemini_proxy):
    url, upstream = gemini_proxy
    sdk = client(url)
    messages: list[Any] = [{"role": "user", "content": "What is the temperature in London?"}]
    first = sdk.chat.completions.create(model="flash", messages=messages, tools=[WEATHER])
    assert first.choices[0].finish_reason == "tool_calls"
    called = first.choices[0].message.tool_calls[0]
    assert called.function.name == "get_current_temperature"
    assert json.loads(called.function.arguments) == {"location": "London"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": called.id, "content": '{"celsius": 12}'},
    ]
    second = sdk.chat.completions.create(model="flash", messages=messages, tools=[WEATHER])
    assert (
        second.choices[0].message.content
        == 'The get_current_temperature tool says: {"celsius": 12}'
    )
    contents = upstream.requests[-1]["body"]["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"  # sent back as received
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_current_temperature"


def test_image_input_through_the_sdk(gemini_proxy):
    url, _ = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                ],
            }
        ],
    )
    assert answer.choices[0].message.content.startswith("An image of type image/png")


def test_http_image_url_is_passed_as_a_file_reference(gemini_proxy):
    url, upstream = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == "A picture from https://example.com/a.png."
    part = upstream.requests[-1]["body"]["contents"][0]["parts"][0]
    assert part == {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}


def test_unusable_image_url_is_a_400_before_any_upstream_request(gemini_proxy):
    url, upstream = gemini_proxy
    before = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(
            model="flash",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://host/a.png"}}],
                }
            ],
        )
    assert "data: URL or an http(s) URL" in err.value.body["message"]
    assert len(upstream.requests) == before


def test_embeddings_through_the_sdk_in_float_and_base64(gemini_proxy):
    url, upstream = gemini_proxy
    sdk = client(url)
    floats = sdk.embeddings.create(
        model="gemini-embed", input=["ab", "abcd"], dimensions=2, encoding_format="float"
    )
    assert [d.embedding for d in floats.data] == [[0.2, 0.3], [0.4, 0.5]]
    assert upstream.requests[-1]["path"].endswith("gemini-embedding-001:batchEmbedContents")
    assert upstream.requests[-1]["body"]["requests"][0]["outputDimensionality"] == 2
    default = sdk.embeddings.create(model="gemini-embed", input="ab")  # the SDK asks base64
    assert default.data[0].embedding == pytest.approx([0.2, 0.3, 0.4])


def test_base64_embeddings_are_little_endian_float32():
    out = gemini_convert.embedding_list(
        {"embeddings": [{"values": [1.5, -2.0]}]}, model="m", encoding="base64"
    )
    assert struct.unpack("<2f", base64.b64decode(out["data"][0]["embedding"])) == (1.5, -2.0)


def test_invalid_argument_passes_through_as_400(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.body["message"] == "Request contains an invalid argument."
    assert err.value.body["code"] == "invalid_argument"


def test_resource_exhausted_is_a_429_with_the_retry_delay(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded.",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
    )
    with pytest.raises(openai.RateLimitError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert KEY not in str(err.value.body)


def test_an_invalid_key_is_our_fault_a_502_that_never_shows_the_key(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )
    with pytest.raises(openai.APIStatusError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 502
    assert KEY not in err.value.response.text and "127.0.0.1" not in err.value.response.text
