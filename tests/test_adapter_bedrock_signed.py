"""The Bedrock adapter on loopback, signed: an independent SigV4 check (the fake upstream's, itself
checked against AWS's test vector) accepts its requests; AWS exceptions map to OpenAI statuses
without the secret (the conversions: test_adapter_bedrock.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.errors import UpstreamStatusError
from gateway.proxy.adapters import bedrock
from tests.adapter_support import (
    BEDROCK_MODEL_ID,
    BEDROCK_SECRETS,
    assemble,
    on_loopback,
    recording_upstream,
)
from tests.adapter_support import bedrock_call as call
from tests.upstreams import bedrock as fake


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with recording_upstream(fake.make_app) as pair:
        yield pair


def test_the_fake_upstreams_sigv4_check_reproduces_the_aws_test_suite_vector():
    # get-vanilla from AWS's Signature Version 4 test suite.
    canonical = fake.canonical_request(
        "GET",
        "/",
        "",
        {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
        ["host", "x-amz-date"],
        b"",
    )
    assert fake.signature(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20150830T123600Z",
        "us-east-1",
        "service",
        canonical,
    ) == ("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


async def run(c, *, stream: bool = False):
    return await on_loopback(bedrock.ADAPTER, c, stream=stream)


@pytest.mark.anyio
async def test_plain_chat_is_signed_and_accepted_by_an_independent_sigv4_check(upstream):
    url, received = upstream
    reply = await run(call({"messages": [{"role": "user", "content": "Create a playlist"}]}, url))
    assert reply.body["choices"][0]["message"]["content"] == fake.POP_SONGS
    assert reply.body["usage"]["total_tokens"] == 185
    assert reply.body["id"] == "chatcmpl-f3a4b7c2-0000-4000-8000-000000000001"
    assert received[-1]["model_id"] == BEDROCK_MODEL_ID


@pytest.mark.anyio
async def test_an_inference_profile_arn_is_signed_as_it_travels(upstream):
    url, received = upstream
    profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude"
    reply = await run(
        call({"messages": [{"role": "user", "content": "Hi"}]}, url, upstream_model=profile)
    )
    assert reply.body["choices"][0]["message"]["content"] == fake.POP_SONGS
    assert received[-1]["model_id"] == profile
    assert "inference-profile%2Fus" in received[-1]["raw_path"]


@pytest.mark.anyio
async def test_a_session_token_is_signed_too(upstream):
    url, received = upstream
    await run(
        call(
            {"messages": [{"role": "user", "content": "Hi"}]},
            url,
            secrets={**BEDROCK_SECRETS, "session_token": "FwoGZXIvYXdzEXAMPLE"},
        )
    )
    assert received[-1]["headers"]["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLE"
    assert "x-amz-security-token" in received[-1]["headers"]["authorization"]


@pytest.mark.anyio
async def test_a_wrong_secret_is_refused_and_becomes_a_retryable_502_without_the_secret(upstream):
    url, _ = upstream
    with pytest.raises(UpstreamStatusError) as info:
        await run(
            call(
                {"messages": [{"role": "user", "content": "Hi"}]},
                url,
                secrets={**BEDROCK_SECRETS, "secret_access_key": "not-the-secret"},
            )
        )
    assert (info.value.status, info.value.retryable) == (502, True)
    assert "not-the-secret" not in json.dumps(info.value.body())


@pytest.mark.anyio
async def test_streamed_chat_on_loopback(upstream):
    url, _ = upstream
    seen = assemble(
        await run(
            call(
                {"stream": True, "messages": [{"role": "user", "content": "Create a playlist"}]},
                url,
            ),
            stream=True,
        )
    )
    assert seen["content"] == fake.POP_SONGS and seen["finish"] == "stop"
    assert seen["usage"]["completion_tokens"] == 60


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model_id", "status", "retryable"),
    [("throttled", 429, True), ("not-ready", 503, True), ("invalid", 400, False)],
)
async def test_aws_exceptions_map_to_openai_statuses(upstream, model_id, status, retryable):
    url, _ = upstream
    with pytest.raises(UpstreamStatusError) as info:
        await run(
            call({"messages": [{"role": "user", "content": "Hi"}]}, url, upstream_model=model_id)
        )
    assert (info.value.status, info.value.retryable) == (status, retryable)
    if not retryable:
        assert "roles must alternate" in info.value.body()["error"]["message"]
