"""`/v1/messages` driven by the official `anthropic` SDK: passed through to an Anthropic
upstream, translated for an OpenAI one; both fakes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from tests.adapter_support import PIXEL
from tests.client_support import Served, serving
from tests.conftest import KEY_ALICE, poll
from tests.test_accounting import read_log
from tests.upstreams import anthropic as fake_anthropic
from tests.upstreams import openai_agentic as fake_openai

WEATHER: Any = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
PASS_THROUGH, TRANSLATED = "claude", "gpt"
BOTH = pytest.mark.parametrize("target", [PASS_THROUGH, TRANSLATED])


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("messages")) as served:
        yield served


@pytest.fixture(scope="module")
def sdk(served) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key=KEY_ALICE, max_retries=0, timeout=15)


def last_chat(served: Served) -> dict[str, Any]:
    return [r for r in served.openai.requests if r["path"] == "/v1/chat/completions"][-1]["body"]


def text_of(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


@BOTH
def test_plain_message(sdk, served, target):
    message = sdk.messages.create(
        model=target,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == target and message.stop_reason == "end_turn"
    if target == PASS_THROUGH:
        assert text_of(message) == "Hi! My name is Claude."
        assert (message.usage.input_tokens, message.usage.output_tokens) == (2095, 503)
        assert served.anthropic[-1]["body"]["system"] == "Be brief."
        assert served.anthropic[-1]["body"]["model"] == "claude-sonnet-4-5"
    else:
        assert text_of(message) == fake_openai.GREETING
        assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 9)
        assert message.usage.cache_read_input_tokens == 11
        assert last_chat(served)["messages"][0] == {"role": "system", "content": "Be brief."}


def test_pass_through_keeps_blocks_cache_control_and_headers(sdk, served):
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    sdk.messages.create(
        model=PASS_THROUGH,
        max_tokens=64,
        system=system,
        extra_body={"top_k": 5},
        stop_sequences=["###"],
        metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    received = served.anthropic[-1]
    assert received["body"]["system"] == system
    assert (received["body"]["top_k"], received["body"]["stop_sequences"]) == (5, ["###"])
    assert received["body"]["metadata"] == {"user_id": "u-1"}
    assert received["headers"]["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert received["headers"]["x-api-key"] == fake_anthropic.API_KEY


@BOTH
def test_streamed_message(sdk, target):
    with sdk.messages.stream(
        model=target, max_tokens=256, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    expected = "Hello!" if target == PASS_THROUGH else fake_openai.GREETING
    assert text == text_of(final) == expected
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == (15 if target == PASS_THROUGH else 9)


def test_translated_stream_has_anthropics_event_order(sdk):
    with sdk.messages.with_streaming_response.create(
        model=TRANSLATED,
        max_tokens=64,
        stream=True,
        messages=[{"role": "user", "content": "Hello"}],
    ) as response:
        names = [
            line[len("event: ") :] for line in response.iter_lines() if line.startswith("event: ")
        ]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@BOTH
def test_tool_use_round_trip(sdk, served, target):
    messages: list[Any] = [{"role": "user", "content": "What is the weather in San Francisco?"}]
    first = sdk.messages.create(model=target, max_tokens=256, tools=[WEATHER], messages=messages)
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.input["location"] == "San Francisco, CA"
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "15 degrees"}],
        },
    ]
    second = sdk.messages.create(model=target, max_tokens=256, tools=[WEATHER], messages=messages)
    assert "15 degrees" in text_of(second)
    if target == PASS_THROUGH:
        assert served.anthropic[-1]["body"]["messages"][-1]["content"][0]["tool_use_id"] == call.id
    else:
        assert last_chat(served)["messages"][-1] == {
            "role": "tool",
            "tool_call_id": call.id,
            "content": "15 degrees",
        }


@BOTH
def test_streamed_tool_use_arrives_as_input_json(sdk, target):
    with sdk.messages.stream(
        model=target,
        max_tokens=256,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "Weather in SF?"}],
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_message()
    assert "input_json" in kinds
    (call,) = [b for b in final.content if b.type == "tool_use"]
    assert call.input["location"] == "San Francisco, CA"
    assert final.stop_reason == "tool_use"


@BOTH
def test_extended_thinking(sdk, served, target):
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    question = [{"role": "user", "content": "What is 27 * 453?"}]
    with sdk.messages.stream(
        model=target, max_tokens=4096, thinking=thinking, messages=question
    ) as stream:
        final = stream.get_final_message()
    block = final.content[0]
    assert block.type == "thinking" and "27 * 4" in block.thinking
    assert "12,231" in text_of(final)
    if target == TRANSLATED:
        assert last_chat(served)["reasoning_effort"] == "low"
        return
    # The signature goes back upstream untouched in the next turn.
    plain = sdk.messages.create(model=target, max_tokens=4096, thinking=thinking, messages=question)
    assert plain.content[0].signature == fake_anthropic.SIGNATURE
    sdk.messages.create(
        model=target,
        max_tokens=4096,
        thinking=thinking,
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in plain.content]},
            {"role": "user", "content": "And 27 * 454?"},
        ],
    )
    sent = served.anthropic[-1]["body"]["messages"][1]["content"][0]
    assert (sent["type"], sent["signature"]) == ("thinking", fake_anthropic.SIGNATURE)


@BOTH
def test_image_input(sdk, served, target):
    data = PIXEL.split(",", 1)[1]
    message = sdk.messages.create(
        model=target,
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": data},
                    },
                    {"type": "text", "text": "What is in this image?"},
                ],
            }
        ],
    )
    if target == PASS_THROUGH:
        assert "ant" in text_of(message)
        block = served.anthropic[-1]["body"]["messages"][0]["content"][0]
        assert block["source"]["data"] == data
    else:
        assert text_of(message) == fake_openai.IMAGE_ANSWER
        part = last_chat(served)["messages"][-1]["content"][0]
        assert part == {"type": "image_url", "image_url": {"url": PIXEL}}


@BOTH
def test_count_tokens(sdk, served, target):
    counted = sdk.messages.count_tokens(
        model=target, messages=[{"role": "user", "content": "Hello, Claude"}]
    )
    if target == PASS_THROUGH:
        assert counted.input_tokens == fake_anthropic.COUNTED_TOKENS
        assert served.anthropic[-1]["body"]["model"] == "claude-sonnet-4-5"
    else:
        assert counted.input_tokens == 4  # "Hello, Claude": 13 characters, 4 per token


@BOTH
def test_overloaded_upstream_fails_over(sdk, target):
    raw = sdk.messages.with_raw_response.create(
        model=f"{target}-failover", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
    )
    assert raw.headers["x-modelyard-attempts"] == "2"
    assert raw.headers["x-modelyard-channel"] == f"{target}-ok-c"
    assert raw.parse().stop_reason == "end_turn"


@BOTH
def test_every_channel_overloaded_is_529(sdk, target):
    with pytest.raises(anthropic.OverloadedError) as caught:
        sdk.messages.create(
            model=f"{target}-busy", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        )
    assert caught.value.status_code == 529
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "overloaded_error"


def test_errors_have_anthropics_shape(sdk, served):
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk.messages.create(
            model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"
    bad = anthropic.Anthropic(base_url=served.url, api_key="sk-wrong-0123456789", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        bad.messages.create(
            model="claude", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
        )
    assert refused.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as invalid:
        sdk.messages.create(
            model="claude", messages=[{"role": "user", "content": "Hi"}], max_tokens=None
        )  # type: ignore[arg-type]
    assert invalid.value.body["error"]["type"] == "invalid_request_error"


def logged(served: Served, request_id: str) -> dict[str, Any]:
    """The usage log line of one request (polled: lines are written in batches)."""
    lines: list[dict[str, Any]] = []

    def found() -> bool:
        lines[:] = [
            line for line in read_log(served.log_path, 1) if line["request_id"] == request_id
        ]
        return bool(lines)

    poll(found)
    return lines[0]


def test_usage_and_cost_equal_what_the_upstream_reported(sdk, served):
    hello: Any = [{"role": "user", "content": "Hello"}]
    native = sdk.messages.with_raw_response.create(
        model=PASS_THROUGH, max_tokens=64, tools=[WEATHER], messages=hello
    )
    translated = sdk.messages.with_raw_response.create(
        model=TRANSLATED, max_tokens=64, messages=hello
    )
    with sdk.messages.with_streaming_response.create(
        model=TRANSLATED, max_tokens=64, messages=hello, stream=True
    ) as streamed:
        streamed.read()
    cost = native.headers["x-modelyard-cost"]
    native, translated, streamed = (
        logged(served, r.headers["x-request-id"]) for r in (native, translated, streamed)
    )
    # The documented tool use answer: 472 input, 100 read from and 20 written to the cache.
    assert native["usage"] == {
        "input_tokens": 592,
        "cached_input_tokens": 100,
        "cache_write_tokens": 20,
        "output_tokens": 89,
    }
    expected = (
        472 * Decimal(3) + 100 * Decimal("0.30") + 20 * Decimal("3.75") + 89 * Decimal(15)
    ) / 1_000_000
    assert Decimal(native["cost"]) == Decimal(cost) == expected
    for line in (translated, streamed):
        assert line["usage"] == {"input_tokens": 31, "cached_input_tokens": 11, "output_tokens": 9}
        assert (
            Decimal(line["cost"])
            == (20 * Decimal("2.50") + 11 * Decimal("1.25") + 9 * Decimal(10)) / 1_000_000
        )
    assert streamed["stream"] is True


def test_upstream_error_mid_stream_ends_it_with_an_error_event(sdk):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk.messages.stream(
            model="claude-cut", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        ) as stream:
            for _ in stream:
                pass
    assert caught.value.body["error"]["type"] == "overloaded_error"
