"""The Bedrock adapter's conversions: Converse requests and their auth headers, answers, and
event streams decoded (on loopback, signed: test_adapter_bedrock_signed.py; through the proxy
with the official SDK: test_bedrock_sdk.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from gateway.errors import (
    InvalidRequest,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from gateway.proxy.adapters import bedrock, bedrock_eventstream
from tests.adapter_support import PIXEL, TOP_SONG_TOOL, assemble, pieces
from tests.adapter_support import bedrock_call as call
from tests.upstreams import bedrock as fake


async def converted(stream: bytes, cuts: list[int] = ()) -> list[dict[str, Any]]:
    frames = bedrock_eventstream.events(pieces(stream, cuts), "bedrock")
    return [
        c
        async for c in bedrock.to_chunks(
            frames, id="chatcmpl-1", model="m", created=1, provider="bedrock"
        )
    ]


# --- requests --------------------------------------------------------------------------------


def test_the_regional_url_encodes_the_model_id_and_the_base_url_replaces_the_host():
    assert bedrock.url(call({}), stream=False) == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
        "anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    )
    profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude"
    assert bedrock.url(call({}, "http://127.0.0.1:9", upstream_model=profile), stream=True) == (
        "http://127.0.0.1:9/model/arn:aws:bedrock:us-east-1:"
        "123456789012:inference-profile%2Fus.anthropic.claude"
        "/converse-stream"
    )


def test_converse_request_has_system_inference_config_and_merged_turns():
    body = bedrock.build_request(
        call(
            {
                "messages": [
                    {"role": "system", "content": "You are an app that creates playlists."},
                    {"role": "user", "content": "Create a list of 3 pop songs."},
                    {"role": "user", "content": "Make sure the songs are by artists from the UK."},
                ],
                "max_tokens": 512,
                "temperature": 0.5,
                "top_p": 0.9,
                "stop": ["END"],
            }
        )
    )
    assert body == {
        "system": [{"text": "You are an app that creates playlists."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Create a list of 3 pop songs."},
                    {"text": "Make sure the songs are by artists from the UK."},
                ],
            }
        ],
        "inferenceConfig": {
            "maxTokens": 512,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }


def test_images_are_sent_as_bytes_with_their_format():
    body = bedrock.build_request(
        call(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": PIXEL}}],
                    }
                ]
            }
        )
    )
    assert body["messages"][0]["content"] == [
        {"image": {"format": "png", "source": {"bytes": PIXEL.split(",", 1)[1]}}}
    ]


def test_image_urls_are_refused_because_converse_takes_bytes_only():
    with pytest.raises(InvalidRequest):
        bedrock.build_request(
            call(
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image_url",
                                    "image_url": {"url": "https://example.com/a.png"},
                                }
                            ],
                        }
                    ]
                }
            )
        )


def test_tools_tool_calls_and_results_become_tool_config_tool_use_and_tool_result():
    body = bedrock.build_request(
        call(
            {
                "tools": [TOP_SONG_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "top_song"}},
                "messages": [
                    {"role": "user", "content": "What is the most popular song on WZPZ?"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "tooluse_1",
                                "type": "function",
                                "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'},
                            }
                        ],
                    },
                    {
                        "role": "tool",
                        "tool_call_id": "tooluse_1",
                        "content": '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}',
                    },
                ],
            }
        )
    )
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "top_song",
                    "description": TOP_SONG_TOOL["function"]["description"],
                    "inputSchema": {"json": TOP_SONG_TOOL["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "top_song"}},
    }
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "tooluse_1",
                        "name": "top_song",
                        "input": {"sign": "WZPZ"},
                    }
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tooluse_1",
                        "content": [
                            {"text": '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}'}
                        ],
                    }
                }
            ],
        },
    ]


def test_tool_choice_none_leaves_the_tools_out_when_the_history_has_no_tool_blocks():
    body = bedrock.build_request(
        call(
            {
                "tools": [TOP_SONG_TOOL],
                "tool_choice": "none",
                "messages": [{"role": "user", "content": "Hi"}],
            }
        )
    )
    assert "toolConfig" not in body
    required = bedrock.build_request(
        call(
            {
                "tools": [TOP_SONG_TOOL],
                "tool_choice": "required",
                "messages": [{"role": "user", "content": "Hi"}],
            }
        )
    )
    assert required["toolConfig"]["toolChoice"] == {"any": {}}


def test_reasoning_effort_asks_for_thinking_in_additional_model_request_fields():
    body = bedrock.build_request(
        call(
            {
                "messages": [{"role": "user", "content": "27 * 453?"}],
                "reasoning_effort": "medium",
                "max_tokens": 20000,
            }
        )
    )
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 8192}
    }


def test_a_bedrock_api_key_is_sent_as_a_bearer_token_without_signing():
    c = call({}, secrets={"type": "bearer", "token": "ABSK-example"})
    headers = bedrock.signed_headers(c, bedrock.url(c, stream=False), b"{}")
    assert headers["Authorization"] == "Bearer ABSK-example"
    assert "X-Amz-Date" not in headers


def test_sigv4_headers_come_from_botocore_with_the_channel_headers_signed():
    c = call({}, options={"headers": {"x-team": "search"}})
    headers = bedrock.signed_headers(c, bedrock.url(c, stream=False), b"{}")
    assert headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fake.ACCESS_KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in headers["Authorization"]
    assert "x-team" in headers["Authorization"]
    assert fake.SECRET_ACCESS_KEY not in json.dumps(headers)


def test_without_botocore_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore.eventstream", None)
    with pytest.raises(UpstreamError) as info:
        bedrock_eventstream.require_botocore()
    assert "pip install 'modelyard[bedrock]'" in str(info.value)


# --- answers ---------------------------------------------------------------------------------


def test_reasoning_blocks_become_reasoning_content():
    data = fake.converse_response(
        [
            {
                "reasoningContent": {
                    "reasoningText": {"text": "27 * 453 = 12,231", "signature": "sig"}
                }
            },
            {"text": "12,231"},
        ],
        "end_turn",
        (1, 1),
    )
    message = bedrock.to_openai(data, id="i", model="m", created=1)["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("27 * 453 = 12,231", "12,231")


def test_a_converse_tool_use_answer_becomes_tool_calls():
    data = fake.converse_response([{"toolUse": fake.TOOL_USE}], "tool_use", (379, 36))
    out = bedrock.to_openai(data, id="chatcmpl-1", model="m", created=1)
    assert out["choices"][0]["message"]["tool_calls"] == [
        {
            "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
            "type": "function",
            "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'},
        }
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"]["total_tokens"] == 415


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_converse_stop_reasons_become_finish_reasons(stop, finish):
    data = fake.converse_response([{"text": "x"}], stop, (1, 1))
    assert (
        bedrock.to_openai(data, id="i", model="m", created=1)["choices"][0]["finish_reason"]
        == finish
    )


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_tool_use_event_stream_becomes_tool_call_chunks_with_usage_last():
    chunks = await converted(fake.TOOL_USE_STREAM)
    seen = assemble(chunks)
    assert seen["tools"] == {
        0: {
            "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
            "name": "top_song",
            "arguments": {"sign": "WZPZ"},
        }
    }
    assert seen["finish"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 391


@pytest.mark.anyio
async def test_reasoning_deltas_become_reasoning_content():
    seen = assemble(await converted(fake.REASONING_STREAM))
    assert (seen["reasoning"], seen["content"]) == ("27 * 453 = 12,231", "12,231")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "stream", [fake.TOOL_USE_STREAM, fake.POP_SONGS_STREAM], ids=["tool_use", "text"]
)
async def test_event_stream_conversion_is_the_same_at_every_split_position(stream):
    whole = await converted(stream)
    for cut in range(1, len(stream)):
        assert await converted(stream, [cut]) == whole, f"split at byte {cut}"


@pytest.mark.anyio
async def test_an_exception_frame_raises_the_mapped_upstream_error():
    with pytest.raises(UpstreamStatusError) as info:
        await converted(fake.THROTTLED_STREAM)
    assert (info.value.status, info.value.retryable) == (429, True)


@pytest.mark.anyio
async def test_a_corrupted_frame_is_a_protocol_error():
    broken = bytearray(fake.POP_SONGS_STREAM)
    broken[20] ^= 0xFF
    with pytest.raises(UpstreamProtocolError):
        await converted(bytes(broken))


@pytest.mark.anyio
async def test_a_stream_without_message_stop_is_a_protocol_error():
    with pytest.raises(UpstreamProtocolError):
        await converted(fake.event("messageStart", {"role": "assistant"}))
