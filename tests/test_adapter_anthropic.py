"""The Anthropic adapter's conversions: requests, answers and streams, stream errors included
(the adapter on loopback: test_adapter_anthropic_loopback.py)."""

from __future__ import annotations

import json

import pytest

from gateway.errors import InvalidRequest, UpstreamProtocolError, UpstreamStatusError
from gateway.proxy.adapters import anthropic
from tests.adapter_support import PIXEL, WEATHER_TOOL, anthropic_chunks, assemble
from tests.adapter_support import anthropic_call as call
from tests.upstreams import anthropic as fake

# --- requests --------------------------------------------------------------------------------


def test_system_messages_are_lifted_and_same_role_turns_merged():
    body = anthropic.build_request(
        call(
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hello"},
                    {
                        "role": "developer",
                        "content": [{"type": "text", "text": "Answer in French."}],
                    },
                    {"role": "user", "content": [{"type": "text", "text": "there"}]},
                ]
            }
        ),
        stream=False,
    )
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
        }
    ]
    assert body["model"] == "claude-sonnet-4-5"


def test_max_tokens_defaults_to_the_model_output_limit_then_4096():
    messages = [{"role": "user", "content": "Hi"}]
    assert (
        anthropic.build_request(
            call({"messages": messages}, properties={"max_output_tokens": 64000}), stream=False
        )["max_tokens"]
        == 64000
    )
    assert anthropic.build_request(call({"messages": messages}), stream=False)["max_tokens"] == 4096
    assert (
        anthropic.build_request(
            call({"messages": messages, "max_completion_tokens": 50}), stream=False
        )["max_tokens"]
        == 50
    )


def test_sampling_and_stop_parameters_are_renamed():
    body = anthropic.build_request(
        call(
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "stop": "END",
                "temperature": 1.7,
                "top_p": 0.9,
                "user": "u-42",
            }
        ),
        stream=True,
    )
    assert body["stop_sequences"] == ["END"]
    assert body["temperature"] == 1.0  # Anthropic's range ends at 1
    assert body["top_p"] == 0.9
    assert body["metadata"] == {"user_id": "u-42"}
    assert body["stream"] is True


def test_images_become_base64_or_url_sources():
    body = anthropic.build_request(
        call(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": PIXEL}},
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://example.com/ant.jpg"},
                            },
                        ],
                    }
                ]
            }
        ),
        stream=False,
    )
    blocks = body["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL.split(",", 1)[1]},
    }
    assert blocks[2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/ant.jpg"},
    }


def test_broken_image_data_is_the_clients_error():
    with pytest.raises(InvalidRequest):
        anthropic.build_request(
            call(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image_url",
                                    "image_url": {"url": "data:image/png;base64,@@@"},
                                }
                            ],
                        }
                    ]
                }
            ),
            stream=False,
        )


def test_tool_calls_and_tool_results_become_tool_use_and_tool_result_blocks():
    body = anthropic.build_request(
        call(
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": "required",
                "parallel_tool_calls": False,
                "messages": [
                    {"role": "user", "content": "Weather in SF?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "toolu_1",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"location": "SF"}',
                                },
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "15 degrees"},
                    {"role": "user", "content": "And tomorrow?"},
                ],
            }
        ),
        stream=False,
    )
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"location": "SF"},
            }
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 degrees"},
            {"type": "text", "text": "And tomorrow?"},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice_is_spelled_the_anthropic_way(choice, expected):
    body = anthropic.build_request(
        call(
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": choice,
                "messages": [{"role": "user", "content": "Hi"}],
            }
        ),
        stream=False,
    )
    assert body["tool_choice"] == expected


def test_reasoning_effort_or_the_channel_switch_turns_thinking_on():
    messages = [{"role": "user", "content": "27 * 453?"}]
    body = anthropic.build_request(
        call({"messages": messages, "reasoning_effort": "low", "temperature": 0.2}), stream=False
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in body  # Anthropic refuses sampling changes while thinking
    forced = anthropic.build_request(
        call({"messages": messages}, options={"thinking": "enabled"}), stream=False
    )
    assert forced["thinking"] == {"type": "enabled", "budget_tokens": 4095}
    off = anthropic.build_request(
        call({"messages": messages, "reasoning_effort": "high"}, options={"thinking": "disabled"}),
        stream=False,
    )
    assert "thinking" not in off


def test_thinking_stays_off_when_the_tool_to_use_is_forced():
    body = anthropic.build_request(
        call(
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "tools": [WEATHER_TOOL],
                "tool_choice": "required",
                "reasoning_effort": "high",
            }
        ),
        stream=False,
    )
    assert "thinking" not in body


def test_more_than_one_choice_is_refused():
    with pytest.raises(InvalidRequest):
        anthropic.build_request(
            call({"messages": [{"role": "user", "content": "Hi"}], "n": 2}), stream=False
        )


@pytest.mark.parametrize(
    "base_url",
    ["https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1"],
)
def test_the_messages_url_follows_the_base_url(base_url):
    assert anthropic.url(call({}, base_url)) == "https://api.anthropic.com/v1/messages"


def test_headers_carry_version_auth_and_extra_headers():
    headers = anthropic.headers(
        call(
            {"messages": []},
            options={"api_version": "2023-01-01", "headers": {"anthropic-beta": "x"}},
        )
    )
    assert headers["anthropic-version"] == "2023-01-01"
    assert headers["x-api-key"] == fake.API_KEY
    assert headers["anthropic-beta"] == "x"


# --- answers ---------------------------------------------------------------------------------


def test_a_tool_use_answer_becomes_tool_calls_with_json_arguments_and_cached_usage():
    out = anthropic.to_openai(fake.TOOL_USE_MESSAGE, model="m", created=1)
    message = out["choices"][0]["message"]
    assert message["content"] == "I'll check the current weather in San Francisco for you."
    assert message["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": json.dumps({"location": "San Francisco, CA", "unit": "celsius"}),
            },
        }
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {
        "prompt_tokens": 592,
        "completion_tokens": 89,
        "total_tokens": 681,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
    }


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons_become_finish_reasons(stop, finish):
    message = {**fake.HELLO_MESSAGE, "stop_reason": stop}
    assert (
        anthropic.to_openai(message, model="m", created=1)["choices"][0]["finish_reason"] == finish
    )


def test_thinking_blocks_become_reasoning_content():
    message = {
        **fake.HELLO_MESSAGE,
        "content": [
            {"type": "thinking", "thinking": "27 * 453 = 12,231", "signature": "sig"},
            {"type": "text", "text": "12,231"},
        ],
    }
    out = anthropic.to_openai(message, model="m", created=1)["choices"][0]["message"]
    assert out == {
        "role": "assistant",
        "content": "12,231",
        "reasoning_content": "27 * 453 = 12,231",
    }


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_documented_tool_use_stream_becomes_text_then_tool_call_chunks():
    chunks = await anthropic_chunks(fake.TOOL_USE_STREAM)
    seen = assemble(chunks)
    assert seen["roles"] == ["assistant"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert seen["content"] == "Okay, let's check the weather for San Francisco, CA:"
    assert seen["tools"] == {
        0: {
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "arguments": {"location": "San Francisco, CA", "unit": "fahrenheit"},
        }
    }
    assert seen["finish"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert seen["usage"]["prompt_tokens"] == 472 and seen["usage"]["completion_tokens"] == 89


@pytest.mark.anyio
async def test_the_documented_thinking_stream_becomes_reasoning_content():
    seen = assemble(await anthropic_chunks(fake.THINKING_STREAM))
    assert seen["reasoning"].endswith("6. 10,800 + 1,350 + 81 = 12,231")
    assert seen["content"] == "27 * 453 = 12,231"
    assert seen["finish"] == "stop"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stream", [fake.TOOL_USE_STREAM, fake.THINKING_STREAM], ids=["tool_use", "thinking"]
)
async def test_stream_conversion_is_the_same_at_every_split_position(stream):
    whole = await anthropic_chunks(stream)
    for cut in range(1, len(stream)):
        assert await anthropic_chunks(stream, [cut]) == whole, f"split at byte {cut}"


@pytest.mark.anyio
async def test_stream_conversion_is_the_same_byte_by_byte():
    stream = fake.HELLO_STREAM
    assert await anthropic_chunks(stream, list(range(1, len(stream)))) == await anthropic_chunks(
        stream
    )


@pytest.mark.anyio
async def test_an_error_event_mid_stream_raises_a_retryable_upstream_error():
    with pytest.raises(UpstreamStatusError) as info:
        await anthropic_chunks(fake.OVERLOADED_STREAM)
    assert info.value.status == 503 and info.value.retryable


@pytest.mark.anyio
async def test_a_stream_cut_before_message_stop_is_a_protocol_error():
    with pytest.raises(UpstreamProtocolError):
        await anthropic_chunks(fake.HELLO_STREAM.split(b"event: message_stop")[0])
