"""The Anthropic adapter through the proxy, driven by the official OpenAI SDK against the fake
Anthropic upstream on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.adapter_support import (
    WEATHER_TOOL,
    proxy_catalog,
    recording_upstream,
    streamed_arguments,
    streamed_text,
    with_image,
)
from tests.conftest import client, running_proxy
from tests.upstreams import anthropic as fake


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with recording_upstream(fake.make_app) as pair:
        yield pair


@pytest.fixture(scope="module")
def sdk(upstream) -> Iterator[tuple[openai.OpenAI, list[dict[str, Any]]]]:
    url, received = upstream
    catalog = proxy_catalog(
        "anthropic",
        url,
        {"type": "header", "header": "x-api-key", "value": "${ANTHROPIC_API_KEY}"},
        {
            "claude": "claude-sonnet-4-5",
            "claude-busy": "overloaded",
            "claude-strict": "bad-request",
            "claude-cut": "stream-error",
        },
    )
    with running_proxy(catalog, environ={"ANTHROPIC_API_KEY": fake.API_KEY}) as (proxy_url, _):
        yield client(proxy_url), received


def test_sdk_plain_chat(sdk):
    api, received = sdk
    answer = api.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    )
    assert answer.choices[0].message.content == "Hi! My name is Claude."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == 2095 and answer.usage.completion_tokens == 503
    assert received[-1]["body"]["system"] == "Be brief."


def test_sdk_streamed_chat_sends_usage_only_when_asked(sdk):
    api, _ = sdk
    messages = [{"role": "user", "content": "Hello"}]
    chunks = list(
        api.chat.completions.create(
            model="claude", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert streamed_text(chunks) == "Hello!"
    assert chunks[-1].usage.completion_tokens == 15
    plain = list(api.chat.completions.create(model="claude", messages=messages, stream=True))
    assert all(c.usage is None for c in plain)
    assert plain[-1].choices[0].finish_reason == "stop"


def test_sdk_tool_call_round_trip(sdk):
    api, received = sdk
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in San Francisco?"}]
    first = api.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL])
    call_ = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call_.function.name, json.loads(call_.function.arguments)) == (
        "get_weather",
        {"location": "San Francisco, CA", "unit": "celsius"},
    )
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call_.id, "content": "15 degrees"},
    ]
    second = api.chat.completions.create(model="claude", messages=messages, tools=[WEATHER_TOOL])
    assert "15 degrees Celsius" in second.choices[0].message.content
    assert received[-1]["body"]["messages"][-1]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
            "content": "15 degrees",
        }
    ]


def test_sdk_streamed_tool_call(sdk):
    api, _ = sdk
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Weather in SF?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    arguments = streamed_arguments(chunks)
    assert json.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_sdk_image_input(sdk):
    api, received = sdk
    answer = api.chat.completions.create(
        model="claude",
        messages=with_image("What is in this image?"),
    )
    assert "ant" in answer.choices[0].message.content
    assert received[-1]["body"]["messages"][0]["content"][1]["source"]["type"] == "base64"


def test_sdk_reasoning_effort_streams_thinking_as_reasoning_content(sdk):
    api, received = sdk
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "What is 27 * 453?"}],
            reasoning_effort="low",
            stream=True,
        )
    )
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert reasoning.startswith("Let me solve this step by step")
    assert streamed_text(chunks) == "27 * 453 = 12,231"
    assert received[-1]["body"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_sdk_native_web_search_is_spelled_the_anthropic_way(sdk):
    api, received = sdk
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Weather in NYC today?"}],
            tools=[{"type": "web_search"}],
            stream=True,
        )
    )
    assert received[-1]["body"]["tools"] == [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    ]
    assert "New York City" in streamed_text(chunks)


def test_sdk_sees_upstream_errors_in_openai_shape(sdk):
    api, _ = sdk
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as bad:
        api.chat.completions.create(model="claude-strict", messages=messages)
    assert "alternate" in bad.value.body["message"]
    with pytest.raises(openai.APIStatusError) as busy:
        api.chat.completions.create(model="claude-busy", messages=messages)
    assert busy.value.status_code == 503
    assert fake.API_KEY not in busy.value.response.text


def test_sdk_stream_cut_by_an_error_event_ends_with_an_error(sdk):
    api, _ = sdk
    with pytest.raises(openai.APIError):
        list(
            api.chat.completions.create(
                model="claude-cut", stream=True, messages=[{"role": "user", "content": "Hi"}]
            )
        )
