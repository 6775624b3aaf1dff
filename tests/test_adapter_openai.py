"""The openai adapter against the fake upstream: URL, auth, headers, body, errors, streams."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from gateway.errors import UpstreamProtocolError, UpstreamStatusError
from gateway.proxy.adapters.openai import OpenAIAdapter, parse_retry_after
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.adapter_support import make_call

USER = [{"role": "user", "content": "hi"}]


def run(coro_factory):
    async def main():
        http = AiohttpUpstream()
        try:
            return await coro_factory(OpenAIAdapter(http))
        finally:
            await http.aclose()

    return asyncio.run(main())


def call_for(url: str, body=None, **kw):
    return make_call(
        body or {"messages": USER}, protocol="openai", base_url=url, upstream_model="up-1", **kw
    )


@pytest.mark.parametrize(
    "auth,secrets,header,value",
    [
        (
            {"type": "bearer", "token": "${T}"},
            {"type": "bearer", "token": "tok"},
            "authorization",
            "Bearer tok",
        ),
        (
            {"type": "basic", "username": "u", "password": "${P}"},
            {"type": "basic", "username": "u", "password": "pw"},
            "authorization",
            "Basic dTpwdw==",
        ),
        (
            {"type": "header", "header": "api-key", "value": "${V}"},
            {"type": "header", "header": "api-key", "value": "v1"},
            "api-key",
            "v1",
        ),
    ],
)
def test_auth_styles_reach_the_upstream(upstream, auth, secrets, header, value):
    fake, url = upstream
    run(lambda a: a.send(call_for(url, auth=auth, secrets=secrets)))
    assert fake.requests[-1]["headers"][header] == value


def test_no_auth_sends_no_authorization(upstream):
    fake, url = upstream
    reply = run(lambda a: a.send(call_for(url, secrets={"type": "none"})))
    assert "authorization" not in fake.requests[-1]["headers"]
    assert reply.body["model"] == "m" and fake.requests[-1]["body"]["model"] == "up-1"


def test_stream_usage_option_false_leaves_stream_options_alone(upstream):
    fake, url = upstream

    async def drain(adapter):
        return [
            c
            async for c in adapter.stream(
                call_for(
                    url,
                    {"messages": USER, "stream": True},
                    secrets={},
                    options={"stream_usage": False},
                )
            )
        ]

    chunks = run(drain)
    assert "stream_options" not in fake.requests[-1]["body"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_retryable_statuses_carry_retry_after(upstream):
    fake, url = upstream
    fake.push({"status": 429, "retry_after": "7"}, 500)
    with pytest.raises(UpstreamStatusError) as info:
        run(lambda a: a.send(call_for(url, secrets={})))
    assert info.value.retryable and info.value.retry_after == 7 and info.value.status == 429
    with pytest.raises(UpstreamStatusError) as info:
        run(lambda a: a.send(call_for(url, secrets={})))
    assert info.value.retryable and info.value.status == 502


def test_client_errors_pass_the_upstream_error_body_through(upstream):
    fake, url = upstream
    error = {"message": "bad", "type": "invalid_request_error", "param": "x", "code": "c"}
    fake.push({"status": 422, "error": error})
    with pytest.raises(UpstreamStatusError) as info:
        run(lambda a: a.send(call_for(url, secrets={})))
    assert not info.value.retryable and info.value.status == 422
    assert info.value.body() == {"error": error}


def test_cut_stream_raises_protocol_error(upstream):
    fake, url = upstream
    fake.push({"cut_after": 2})

    async def drain(adapter):
        return [
            c
            async for c in adapter.stream(
                call_for(url, {"messages": USER, "stream": True}, secrets={})
            )
        ]

    with pytest.raises(UpstreamProtocolError):
        run(drain)


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < parse_retry_after(later) <= 60
