"""`/admin/status` of a running proxy: models, channels, circuits and recent health."""

from __future__ import annotations

import random

import httpx
import openai
import pytest

from gateway.proxy.app import ProxyApp
from tests.conftest import (
    ENV,
    KEY_ALICE,
    channel,
    client,
    consumer,
    holder_of,
    model,
    provider,
    snapshot_dict,
)
from tests.upstreams.server import serve_asgi

KEY_OPS = "ops-key-0123456789"
HI = [{"role": "user", "content": "hi"}]


def catalog(upstream_url: str) -> dict:
    return snapshot_dict(
        settings={"breaker": {"failure_threshold": 1, "cooldown_s": 60, "max_cooldown_s": 60}},
        providers=[
            provider(
                "fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"}
            ),
            provider("mock", protocol="mock"),
        ],
        models=[model("gpt-test")],
        channels=[
            channel("fake-gpt", "gpt-test", "fake", priority="high"),
            channel("mock-gpt", "gpt-test", "mock", priority="low"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("ops", KEY_OPS, scopes=["public", "admin"]),
        ],
    )


def test_status_shows_circuits_success_and_last_error_for_admin_keys_only(upstream):
    fake, url = upstream
    fake.push(503)
    app = ProxyApp(holder_of(catalog(url), ENV), rng=random.Random(1))
    with serve_asgi(app) as proxy_url:
        answer = client(proxy_url).chat.completions.with_raw_response.create(
            model="gpt-test", messages=HI
        )
        assert answer.headers["x-modelyard-channel"] == "mock-gpt"  # failed over
        denied = httpx.get(
            f"{proxy_url}/admin/status", headers={"Authorization": f"Bearer {KEY_ALICE}"}
        )
        document = httpx.get(
            f"{proxy_url}/admin/status", headers={"Authorization": f"Bearer {KEY_OPS}"}
        ).json()
    assert denied.status_code == 403
    (entry,) = document["models"]
    channels = {c["name"]: c for c in entry["channels"]}
    assert channels["fake-gpt"]["circuit"]["state"] == "open"
    assert channels["fake-gpt"]["recent"]["failures"] == 1
    assert channels["fake-gpt"]["last_error"]["code"]
    assert channels["mock-gpt"]["recent"]["success_rate"] == 1.0
    assert document["digest"] == app.holder.current.snapshot.digest
    assert ENV["MY_FAKE_KEY"] not in str(document)


def test_status_without_a_key_is_refused(upstream):
    fake, url = upstream
    app = ProxyApp(holder_of(catalog(url), ENV))
    with serve_asgi(app) as proxy_url, pytest.raises(openai.AuthenticationError):
        client(proxy_url, "wrong-key").models.list()
    with serve_asgi(app) as proxy_url:
        assert httpx.get(f"{proxy_url}/admin/status").status_code == 401


def test_metrics_count_every_upstream_attempt_the_failed_over_ones_too(upstream):
    fake, url = upstream
    fake.push(503)
    app = ProxyApp(holder_of(catalog(url), ENV), rng=random.Random(1))

    def attempts(proxy_url: str) -> dict[tuple[str, str], float]:
        text = httpx.get(
            f"{proxy_url}/metrics", headers={"Authorization": f"Bearer {KEY_OPS}"}
        ).text
        counts = {}
        for line in text.splitlines():
            if line.startswith("modelyard_upstream_attempts_total{"):
                labels, value = line.rsplit(" ", 1)
                channel_name = labels.split('channel="')[1].split('"')[0]
                outcome = labels.split('outcome="')[1].split('"')[0]
                counts[channel_name, outcome] = float(value)
        return counts

    with serve_asgi(app) as proxy_url:
        before = attempts(proxy_url)
        answer = client(proxy_url).chat.completions.with_raw_response.create(
            model="gpt-test", messages=HI
        )
        after = attempts(proxy_url)
    assert answer.headers["x-modelyard-channel"] == "mock-gpt"
    added = {key: after[key] - before.get(key, 0.0) for key in after}
    assert {key: n for key, n in added.items() if n} == {
        ("fake-gpt", "failure"): 1.0,
        ("mock-gpt", "success"): 1.0,
    }
