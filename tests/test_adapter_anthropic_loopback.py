"""The Anthropic adapter on loopback: plain and streamed answers, the key sent, and upstream
errors mapped to OpenAI statuses without the key (the conversions: test_adapter_anthropic.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.errors import UpstreamStatusError
from gateway.proxy.adapters import anthropic
from tests.adapter_support import (
    ANTHROPIC_SECRETS,
    anthropic_call,
    assemble,
    on_loopback,
    recording_upstream,
)
from tests.upstreams import anthropic as fake

HI = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with recording_upstream(fake.make_app) as pair:
        yield pair


async def send(base_url: str, body: dict[str, Any], **kw: Any):
    return await on_loopback(anthropic.ADAPTER, anthropic_call(body, base_url, **kw))


async def stream(base_url: str, body: dict[str, Any], **kw: Any):
    return await on_loopback(anthropic.ADAPTER, anthropic_call(body, base_url, **kw), stream=True)


@pytest.mark.anyio
async def test_plain_chat_on_loopback(upstream):
    url, received = upstream
    reply = await send(url, {"messages": [{"role": "user", "content": "Hello"}]})
    assert reply.body["choices"][0]["message"]["content"] == "Hi! My name is Claude."
    assert reply.body["model"] == "m"
    assert received[-1]["headers"]["x-api-key"] == fake.API_KEY


@pytest.mark.anyio
async def test_streamed_chat_on_loopback(upstream):
    url, _ = upstream
    seen = assemble(
        await stream(url, {"stream": True, "messages": [{"role": "user", "content": "Hello"}]})
    )
    assert seen["content"] == "Hello!" and seen["finish"] == "stop"
    assert seen["usage"]["completion_tokens"] == 15


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("upstream_model", "status", "retryable"),
    [("overloaded", 503, True), ("rate-limited", 429, True), ("bad-request", 400, False)],
)
async def test_upstream_errors_map_to_openai_statuses(upstream, upstream_model, status, retryable):
    url, _ = upstream
    with pytest.raises(UpstreamStatusError) as info:
        await send(
            url, {"messages": [{"role": "user", "content": "Hi"}]}, upstream_model=upstream_model
        )
    assert (info.value.status, info.value.retryable) == (status, retryable)
    if upstream_model == "rate-limited":
        assert info.value.retry_after == 7
    if not retryable:
        assert info.value.body()["error"]["type"] == "invalid_request_error"
        assert "alternate" in info.value.body()["error"]["message"]


@pytest.mark.anyio
async def test_a_refused_upstream_key_is_a_retryable_502_that_never_shows_the_key(upstream):
    url, _ = upstream
    with pytest.raises(UpstreamStatusError) as info:
        await send(url, HI, secrets={**ANTHROPIC_SECRETS, "value": "sk-ant-wrong-secret"})
    assert (info.value.status, info.value.retryable) == (502, True)
    assert "sk-ant" not in json.dumps(info.value.body())
