"""The DashScope adapter: enable_thinking, thinking_budget, reasoning_content, end to end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from tests.adapter_support import streamed_text
from tests.conftest import client, running_proxy
from tests.upstreams import thinking_openai as fake
from tests.upstreams.server import serve_asgi

HI = [{"role": "user", "content": "Who are you?"}]


@contextmanager
def served() -> Iterator[tuple[str, fake.FakeThinking]]:
    upstream = fake.FakeThinking("dashscope", "/compatible-mode/v1")
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "dashscope",
            f"{url}/compatible-mode/v1",
            model_name="qwen",
            upstream_model="qwen-plus",
            key_env="DASHSCOPE_KEY",
        )
        with running_proxy(data, environ={"DASHSCOPE_KEY": fake.KEYS["dashscope"]}) as (p, _):
            yield p, upstream


@pytest.fixture(scope="module")
def dashscope() -> Iterator[tuple[str, fake.FakeThinking]]:
    with served() as pair:
        yield pair


def sent(upstream: fake.FakeThinking) -> dict[str, Any]:
    return upstream.requests[-1]["body"]


def test_plain_chat_without_reasoning_settings_sends_no_switch(dashscope):
    url, upstream = dashscope
    answer = client(url).chat.completions.create(model="qwen", messages=HI)
    assert answer.choices[0].message.content == fake.ANSWER
    assert "enable_thinking" not in sent(upstream)
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer sk-dashscope-test"


def test_reasoning_effort_sets_enable_thinking_and_a_budget(dashscope):
    url, upstream = dashscope
    answer = client(url).chat.completions.create(model="qwen", messages=HI, reasoning_effort="low")
    assert sent(upstream)["enable_thinking"] is True
    assert sent(upstream)["thinking_budget"] == 1024
    assert answer.choices[0].message.model_extra["reasoning_content"] == fake.REASONING


def test_reasoning_effort_none_or_channel_disabled_turns_thinking_off(dashscope):
    url, upstream = dashscope
    client(url).chat.completions.create(model="qwen", messages=HI, reasoning_effort="none")
    assert sent(upstream)["enable_thinking"] is False and "reasoning_effort" not in sent(upstream)
    client(url).chat.completions.create(model="qwen-off", messages=HI, reasoning_effort="high")
    assert sent(upstream)["enable_thinking"] is False and "thinking_budget" not in sent(upstream)


def test_streamed_thinking_with_usage_in_the_last_chunk(dashscope):
    url, upstream = dashscope
    chunks = list(
        client(url).chat.completions.create(
            model="qwen-on", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    reasoning = "".join(
        c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks if c.choices
    )
    text = streamed_text(chunks)
    assert (reasoning, text) == (fake.REASONING, fake.ANSWER)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 9
    assert sent(upstream)["stream_options"] == {"include_usage": True}
    assert sent(upstream)["enable_thinking"] is True


def test_stream_without_include_usage_still_gets_usage_upstream_but_hides_it(dashscope):
    url, upstream = dashscope
    chunks = list(client(url).chat.completions.create(model="qwen", messages=HI, stream=True))
    assert all(c.usage is None for c in chunks)
    assert sent(upstream)["stream_options"] == {"include_usage": True}


def test_upstream_errors_pass_through_in_openai_shape():
    with served() as (url, upstream):
        upstream.fail(
            400,
            {
                "error": {
                    "code": "invalid_parameter_error",
                    "param": None,
                    "type": "invalid_request_error",
                    "message": "parameter.enable_thinking must be set to false for non-streaming "
                    "calls",
                },
                "request_id": "9b5c",
            },
        )
        with pytest.raises(openai.BadRequestError) as err:
            client(url).chat.completions.create(model="qwen-on", messages=HI)
        assert err.value.body["code"] == "invalid_parameter_error"
        upstream.fail(503, {"error": {"message": "overloaded", "code": "ServiceUnavailable"}})
        with pytest.raises(openai.APIStatusError) as unavailable:
            client(url).chat.completions.create(model="qwen", messages=HI)
        assert unavailable.value.status_code >= 500


def test_a_refused_key_is_our_fault_a_502_without_the_key():
    upstream = fake.FakeThinking("dashscope", "/compatible-mode/v1")
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "dashscope",
            f"{url}/compatible-mode/v1",
            model_name="qwen",
            upstream_model="qwen-plus",
            key_env="DASHSCOPE_KEY",
        )
        with running_proxy(data, environ={"DASHSCOPE_KEY": "sk-wrong"}) as (proxy, _):
            with pytest.raises(openai.APIStatusError) as err:
                client(proxy).chat.completions.create(model="qwen", messages=HI)
    assert err.value.status_code == 502
    assert "sk-wrong" not in err.value.response.text
