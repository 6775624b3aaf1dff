"""A misbehaving upstream never costs a client a 500, nor anyone a usage-log line: bad usage,
malformed payloads, lone surrogates, echoed credentials, a huge Retry-After, compression
bombs and stray model names."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    fake_upstream,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.test_accounting import read_log
from tests.upstreams.server import serve_asgi

SECRET_USER, SECRET_PASSWORD = "svc-user-4242", "pa55-word-0987654321"
ENV = {"UP_USER": SECRET_USER, "UP_PASSWORD": SECRET_PASSWORD}
HI = [{"role": "user", "content": "hi"}]
BAD_USAGES = [
    {"prompt_tokens": -1_000_000_000, "completion_tokens": -5},
    [1, 2],
    "lots",
    {"prompt_tokens": "abc"},
    {"prompt_tokens_details": [1]},
    {"prompt_tokens": 1e300, "completion_tokens": 2},
    {"prompt_tokens": 3, "completion_tokens": 4, "native_tool_calls": {"x": -3}},
]


def catalog(url: str) -> dict:
    return snapshot_dict(
        providers=[
            provider(
                "fake",
                base_url=url,
                auth={"type": "basic", "username": "${UP_USER}", "password": "${UP_PASSWORD}"},
            )
        ],
        models=[model("gpt-4o")],
        channels=[
            channel(
                "fake-4o",
                "gpt-4o",
                "fake",
                upstream_model="gpt-4o",
                price={
                    "currency": "USD",
                    "unit": "per_million_tokens",
                    "input": "1",
                    "output": "2",
                },
                price_source="inline",
            )
        ],
        consumers=[consumer("alice", KEY_ALICE)],
        settings={"breaker": {"failure_threshold": 1000, "cooldown_s": 1, "max_cooldown_s": 5}},
    )


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, object, object]]:
    log_path = tmp_path / "usage.jsonl"
    with (
        fake_upstream() as (fake, url),
        running_proxy(catalog(url), environ=ENV, usage_log=str(log_path)) as (proxy, _),
    ):
        yield proxy, fake, log_path


def chat(proxy: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{proxy}/v1/chat/completions",
        timeout=10,
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
        json={"model": "gpt-4o", "messages": HI, "stream": stream},
    )


def test_bad_upstream_usage_costs_no_log_line_and_no_5xx(served):
    proxy, fake, log_path = served
    requests = 60
    for i in range(requests):
        if i % 10 == 3:
            fake.push({"usage": BAD_USAGES[(i // 10) % len(BAD_USAGES)]})
        answer = chat(proxy, stream=i % 2 == 1)
        assert answer.status_code == 200, answer.text
    lines = read_log(log_path, requests)
    assert len(lines) == requests and {line["status"] for line in lines} == {200}
    for line in lines:
        assert all(v >= 0 for v in line["usage"].values() if isinstance(v, int)), line


@pytest.mark.parametrize("usage", BAD_USAGES, ids=range(len(BAD_USAGES)))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_malformed_usage_is_billed_as_an_estimate_or_clamped(served, usage, stream):
    proxy, fake, log_path = served
    fake.push({"usage": usage})
    answer = chat(proxy, stream=stream)
    assert answer.status_code == 200
    if stream:
        assert answer.text.rstrip().endswith("data: [DONE]")
    [line] = read_log(log_path, 1)
    assert line["status"] == 200
    assert all(v >= 0 for v in line["usage"].values() if isinstance(v, int))
    assert float(line["cost"]) >= 0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_answer_holding_a_lone_surrogate_reaches_the_client(served, stream):
    proxy, fake, _ = served
    fake.push({"text": "broken \udc00 text", "model": "gpt-4o-2024-08-06"})
    answer = chat(proxy, stream=stream)
    assert answer.status_code == 200
    assert "\\udc00" in answer.text
    if stream:
        assert answer.text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_client_always_sees_the_model_name_it_asked_for(served, stream):
    proxy, fake, _ = served
    fake.push({"model": "gpt-4o-2024-08-06-secret-snapshot"})
    if stream:
        chunks = list(
            client(proxy).chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        )
        assert {c.model for c in chunks} == {"gpt-4o"}
    else:
        answer = client(proxy).chat.completions.create(model="gpt-4o", messages=HI)
        assert answer.model == "gpt-4o"


def test_a_basic_auth_header_echoed_by_the_upstream_is_masked(served):
    proxy, fake, _ = served
    sent = "Basic " + base64.b64encode(f"{SECRET_USER}:{SECRET_PASSWORD}".encode()).decode()
    assert fake_header_seen(proxy, fake) == sent
    fake.push(
        {
            "status": 400,
            "error": {
                "message": f"bad request with Authorization: {sent} (password {SECRET_PASSWORD})",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        }
    )
    answer = chat(proxy)
    assert answer.status_code == 400
    assert sent.split()[1] not in answer.text and SECRET_PASSWORD not in answer.text
    assert "***" in answer.text


def fake_header_seen(proxy: str, fake) -> str:
    assert chat(proxy).status_code == 200
    return fake.requests[-1]["headers"]["authorization"]


def test_a_huge_retry_after_holds_the_channel_no_longer_than_the_longest_cooldown(served):
    proxy, fake, _ = served
    fake.push({"status": 429, "retry_after": "99999999999"})
    answer = chat(proxy)
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) <= 5
    held = chat(proxy)
    assert held.status_code == 503 and 1 <= int(held.headers["retry-after"]) <= 5


def test_a_compression_bomb_is_refused_without_reading_it_whole():
    bomb = gzip.compress(b"{" + b" " * (80 * 1024 * 1024) + b"}", compresslevel=9)

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(bomb, media_type="application/json", headers={"content-encoding": "gzip"})

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    with serve_asgi(app) as url, running_proxy(catalog(url), environ=ENV) as (proxy, _):
        started = time.monotonic()
        result = chat(proxy)
        assert result.status_code == 502, result.text
        assert result.json()["error"]["code"] == "upstream_protocol_error"
        assert time.monotonic() - started < 10
    assert len(json.dumps(result.json())) < 1000
