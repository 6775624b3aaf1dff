"""The Volcengine Ark adapter: the thinking switch and reasoning_content, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from tests.adapter_support import streamed_text
from tests.conftest import client, running_proxy
from tests.upstreams import thinking_openai as fake
from tests.upstreams.server import serve_asgi

HI = [{"role": "user", "content": "Hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@contextmanager
def served() -> Iterator[tuple[str, fake.FakeThinking]]:
    upstream = fake.FakeThinking("volcengine", "/api/v3")
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "volcengine",
            f"{url}/api/v3",
            model_name="doubao",
            upstream_model="doubao-seed-1-6-250615",
            key_env="ARK_KEY",
        )
        with running_proxy(data, environ={"ARK_KEY": fake.KEYS["volcengine"]}) as (proxy, _):
            yield proxy, upstream


@pytest.fixture(scope="module")
def ark() -> Iterator[tuple[str, fake.FakeThinking]]:
    with served() as pair:
        yield pair


def sent(upstream: fake.FakeThinking) -> dict[str, Any]:
    return upstream.requests[-1]["body"]


def test_no_reasoning_setting_leaves_the_upstream_default(ark):
    url, upstream = ark
    answer = client(url).chat.completions.create(model="doubao", messages=HI)
    assert answer.choices[0].message.content == fake.ANSWER
    assert "thinking" not in sent(upstream)
    assert sent(upstream)["model"] == "doubao-seed-1-6-250615"
    assert upstream.requests[-1]["path"] == "/api/v3/chat/completions"


def test_reasoning_effort_enables_thinking_and_reasoning_content_passes_through(ark):
    url, upstream = ark
    answer = client(url).chat.completions.create(
        model="doubao", messages=HI, reasoning_effort="high"
    )
    assert sent(upstream)["thinking"] == {"type": "enabled"}
    assert sent(upstream)["reasoning_effort"] == "high"
    assert answer.choices[0].message.model_extra["reasoning_content"] == fake.REASONING


def test_reasoning_effort_none_disables_thinking(ark):
    url, upstream = ark
    client(url).chat.completions.create(model="doubao", messages=HI, reasoning_effort="none")
    assert sent(upstream)["thinking"] == {"type": "disabled"}
    assert "reasoning_effort" not in sent(upstream)


def test_channel_option_overrides_the_request(ark):
    url, upstream = ark
    sdk = client(url)
    sdk.chat.completions.create(model="doubao-on", messages=HI, reasoning_effort="minimal")
    assert sent(upstream)["thinking"] == {"type": "enabled"}
    sdk.chat.completions.create(model="doubao-off", messages=HI, reasoning_effort="high")
    assert sent(upstream)["thinking"] == {"type": "disabled"}
    sdk.chat.completions.create(model="doubao-on", messages=HI)
    assert sent(upstream)["thinking"] == {"type": "enabled"}


def test_streamed_reasoning_content_and_usage_pass_through(ark):
    url, upstream = ark
    chunks = list(
        client(url).chat.completions.create(
            model="doubao-on", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    reasoning = "".join(
        c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks if c.choices
    )
    text = streamed_text(chunks)
    assert (reasoning, text) == (fake.REASONING, fake.ANSWER)
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    assert sent(upstream)["stream_options"] == {"include_usage": True}


def test_tool_call_round_trip(ark):
    url, upstream = ark
    sdk = client(url)
    first = sdk.chat.completions.create(model="doubao", messages=HI, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"city": "Hangzhou"}
    messages: list[Any] = [
        *HI,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = sdk.chat.completions.create(model="doubao", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "Done: sunny"


def test_upstream_errors_are_mapped():
    with served() as (url, upstream):
        upstream.fail(
            400,
            {
                "error": {
                    "code": "InvalidParameter",
                    "type": "BadRequest",
                    "message": "The parameter `thinking` is invalid.",
                    "param": "thinking",
                }
            },
        )
        with pytest.raises(openai.BadRequestError) as err:
            client(url).chat.completions.create(model="doubao", messages=HI)
        assert err.value.body["message"] == "The parameter `thinking` is invalid."
        upstream.fail(
            429,
            {
                "error": {
                    "code": "RateLimitExceeded.EndpointRPMExceeded",
                    "message": "Too many requests",
                    "type": "TooManyRequests",
                }
            },
        )
        with pytest.raises(openai.RateLimitError):
            client(url).chat.completions.create(model="doubao", messages=HI)


def test_a_clients_own_thinking_field_passes_when_nothing_else_decides(ark):
    url, upstream = ark
    client(url).chat.completions.create(
        model="doubao", messages=HI, extra_body={"thinking": {"type": "auto"}}
    )
    assert sent(upstream)["thinking"] == {"type": "auto"}
    client(url).chat.completions.create(
        model="doubao-off", messages=HI, extra_body={"thinking": {"type": "auto"}}
    )
    assert sent(upstream)["thinking"] == {"type": "disabled"}
