"""Quotas at the proxy (embedded state): 429s in OpenAI's shape, x-ratelimit headers,
token reservations settled with real usage, budgets, orgs, per-model limits, status."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest

from gateway.proxy.app import ProxyApp
from gateway.quota.gate import FAIL_CLOSED, FAIL_OPEN
from gateway.state.redis_backend import RedisState
from tests.conftest import (
    ENV,
    KEY_ALICE,
    KEY_BOB,
    channel,
    client,
    consumer,
    fake_upstream,
    holder_of,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.upstreams.server import free_port, serve_asgi

KEY_OPS = "sk-ops-0123456789"
PRICE = {
    "currency": "USD",
    "unit": "per_million_tokens",
    "input": "100000",
    "output": "100000",
}  # 0.1 per token: the fake's 9-token answer costs 0.9


def quota_catalog(
    upstream_url: str,
    *,
    alice: dict | None = None,
    bob: dict | None = None,
    research: dict | None = None,
) -> dict:
    consumers = [
        consumer("alice", KEY_ALICE, orgs=["research"], **({"quota": alice} if alice else {})),
        consumer("bob", KEY_BOB, orgs=["research"], **({"quota": bob} if bob else {})),
        consumer("ops", KEY_OPS, scopes=["public", "admin"]),
    ]
    data = snapshot_dict(
        providers=[
            provider(
                "fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"}
            )
        ],
        models=[model("gpt-test", order=1), model("other", order=2)],
        channels=[
            channel("fake-gpt", "gpt-test", "fake", upstream_model="up-gpt", price=PRICE),
            channel("fake-other", "other", "fake", upstream_model="up-other", price=PRICE),
        ],
        consumers=consumers,
    )
    if research:
        from gateway.catalog.snapshot import digest_of

        data["orgs"] = {"research": {"name": "research", "description": None, "quota": research}}
        data["digest"] = digest_of(data)
    return data


@contextmanager
def quota_proxy(**quotas: Any) -> Iterator[tuple[str, ProxyApp, Any]]:
    with fake_upstream() as (fake, url):
        app = ProxyApp(holder_of(quota_catalog(url, **quotas), ENV), rng=random.Random(1))
        with serve_asgi(app) as proxy_url:
            yield proxy_url, app, fake


def chat(base: str, key: str = KEY_ALICE, model_name: str = "gpt-test", **kw: Any):
    return client(base, key).chat.completions.with_raw_response.create(
        model=model_name, messages=[{"role": "user", "content": "hi"}], **kw
    )


def quotas_of(base: str) -> dict:
    response = httpx.get(f"{base}/admin/status", headers={"Authorization": f"Bearer {KEY_OPS}"})
    assert response.status_code == 200
    return {s["subject"]: s for s in response.json()["quotas"]["scopes"]}


def test_requests_over_the_per_minute_limit_get_a_429_in_openai_shape():
    with quota_proxy(alice={"requests_per_minute": 3}) as (base, _, _):
        remaining = []
        for _ in range(3):
            raw = chat(base)
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
            remaining.append(raw.headers["x-ratelimit-remaining-requests"])
            assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        assert remaining == ["2", "1", "0"]
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base)
        error = refused.value.body
        assert refused.value.status_code == 429
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
        assert "consumer:alice" in error["message"] and "requests per minute" in error["message"]
        headers = refused.value.response.headers
        assert 1 <= int(headers["retry-after"]) <= 60  # when the oldest request slides out
        assert headers["x-ratelimit-remaining-requests"] == "0"
        # Bob has no limit of his own and no org limit: no headers, never refused.
        raw = chat(base, KEY_BOB)
        assert "x-ratelimit-limit-requests" not in raw.headers


def test_tokens_are_reserved_up_front_and_settled_with_the_real_count():
    with quota_proxy(alice={"tokens_per_minute": 100}) as (base, _, _):
        raw = chat(base, max_tokens=90)  # reserves 1 (prompt estimate) + 90
        assert raw.headers["x-ratelimit-limit-tokens"] == "100"
        assert raw.headers["x-ratelimit-remaining-tokens"] == "9"
        # Settled with what the upstream reported: 5 prompt + 4 completion tokens.
        poll(lambda: quotas_of(base)["consumer:alice"]["limits"]["tokens_per_minute"]["used"] == 9)
        raw = chat(base, max_tokens=80)
        assert raw.headers["x-ratelimit-remaining-tokens"] == "10"
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base, max_tokens=85)  # 86 more: over 100 whether or not 9 or 81 is counted
        assert refused.value.body["type"] == "tokens"
        assert "Please try again in" in refused.value.body["message"]
        with pytest.raises(openai.RateLimitError) as too_large:
            chat(base, max_tokens=500)
        assert "Request too large" in too_large.value.body["message"]
        assert "retry-after" not in too_large.value.response.headers


def test_streams_settle_their_tokens_when_they_end():
    with quota_proxy(alice={"tokens_per_minute": 1000}) as (base, _, _):
        stream = client(base).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            max_tokens=500,
            stream_options={"include_usage": True},
        )
        usage = [chunk.usage for chunk in stream if chunk.usage][0]
        assert usage.total_tokens == 9
        poll(lambda: quotas_of(base)["consumer:alice"]["limits"]["tokens_per_minute"]["used"] == 9)


def test_a_spent_daily_budget_stops_new_requests():
    with quota_proxy(alice={"budget_per_day": "2"}) as (base, _, _):
        for _ in range(3):  # 0.9 each: 0, 0.9 and 1.8 spent before each, all below 2
            chat(base)
            time.sleep(0)  # settlement runs in the proxy's loop, polled below
        poll(lambda: quotas_of(base)["consumer:alice"]["limits"]["budget_per_day"]["used"] == "2.7")
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base)
        assert refused.value.body["type"] == "insufficient_quota"
        assert refused.value.body["code"] == "insufficient_quota"
        assert "2.7 of 2 USD" in refused.value.body["message"]
        assert 1 <= int(refused.value.response.headers["retry-after"]) <= 86400


def test_an_org_limit_is_shared_by_its_members_and_a_model_limit_by_its_model():
    research = {"requests_per_minute": 3, "models": {"gpt-test": {"requests_per_minute": 1}}}
    with quota_proxy(research=research) as (base, _, _):
        chat(base, KEY_ALICE)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base, KEY_BOB)  # the org's one gpt-test request a minute is taken
        assert "org:research model:gpt-test" in refused.value.body["message"]
        chat(base, KEY_BOB, "other")
        chat(base, KEY_ALICE, "other")
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base, KEY_BOB, "other")  # three for the org in all
        assert "org:research on requests" in refused.value.body["message"]


def test_concurrent_requests_over_the_limit_are_refused_until_one_ends():
    with quota_proxy(alice={"concurrent_requests": 1}) as (base, _, fake):
        fake.push({"slow": 1.0})
        first = threading.Thread(target=chat, args=(base,))
        first.start()
        poll(lambda: len(fake.requests) == 1)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(base)
        assert "concurrent requests" in refused.value.body["message"]
        first.join()
        poll(
            lambda: quotas_of(base)["consumer:alice"]["limits"]["concurrent_requests"]["used"] == 0
        )
        chat(base)


def test_status_and_metrics_show_use_against_limits():
    with quota_proxy(alice={"requests_per_minute": 5, "budget_per_month": "100"}) as (base, _, _):
        chat(base)
        chat(base)
        poll(
            lambda: quotas_of(base)["consumer:alice"]["limits"]["budget_per_month"]["used"] == "1.8"
        )
        alice = quotas_of(base)["consumer:alice"]
        assert alice["limits"]["requests_per_minute"] == {"limit": 5, "used": 2}
        assert alice["limits"]["budget_per_month"]["limit"] == "100"
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {KEY_OPS}"}).text
        assert (
            'modelyard_quota_used{limit="requests_per_minute",subject="consumer:alice"} 2.0'
            in metrics
        )
        assert (
            'modelyard_quota_limit{limit="budget_per_month",subject="consumer:alice"} 100.0'
            in metrics
        )


def test_modelyard_status_shows_each_consumers_use_against_its_limits():
    from typer.testing import CliRunner

    from cli.main import app as cli

    with quota_proxy(alice={"requests_per_minute": 5, "tokens_per_minute": 1000}) as (base, _, _):
        chat(base)
        poll(lambda: quotas_of(base)["consumer:alice"]["limits"]["tokens_per_minute"]["used"] == 9)
        result = CliRunner().invoke(
            cli, ["status", "--url", base, "--key", KEY_OPS], env={"COLUMNS": "200"}
        )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "consumer:alice" in line)
    assert "1 / 5" in row and "9 / 1000" in row


@pytest.mark.parametrize("mode", [FAIL_OPEN, FAIL_CLOSED])
def test_an_unreachable_state_backend_fails_open_or_closed_quickly(mode):
    dead = RedisState(f"redis://127.0.0.1:{free_port()}/0")
    with fake_upstream() as (_, url):
        app = ProxyApp(
            holder_of(quota_catalog(url, alice={"requests_per_minute": 1}), ENV),
            rng=random.Random(1),
            state=dead,
            on_state_unavailable=mode,
        )
        with serve_asgi(app) as base:
            for _ in range(3):
                started = time.perf_counter()
                response = httpx.post(
                    f"{base}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {KEY_ALICE}"},
                    json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
                )
                assert time.perf_counter() - started < 1.0
                if mode == FAIL_OPEN:
                    assert response.status_code == 200
                    assert "x-ratelimit-limit-requests" not in response.headers
                else:
                    assert response.status_code == 503
                    error = response.json()["error"]
                    assert error["code"] == "quota_state_unavailable"
                    assert "unreachable" in error["message"]
            quotas = httpx.get(
                f"{base}/admin/status", headers={"Authorization": f"Bearer {KEY_OPS}"}
            ).json()["quotas"]
    assert quotas["available"] is False and quotas["backend"] == "redis"
    assert quotas["state_errors"] == {"served" if mode == FAIL_OPEN else "refused": 3}
