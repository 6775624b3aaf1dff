"""A Redis that stops answering costs the proxy one timeout, not one per request: the first
call that times out marks Redis down, every later request is served at once (fail_open)
without waiting, and a ping in the background finds Redis back."""

from __future__ import annotations

import random
import signal
import time

import httpx

from gateway.proxy.app import ProxyApp
from gateway.quota.gate import FAIL_OPEN
from gateway.state.redis_backend import RedisState
from tests.conftest import ENV, KEY_ALICE, fake_upstream, holder_of, poll
from tests.redis_support import needs_redis_server, redis_server
from tests.test_quota_proxy import quota_catalog
from tests.upstreams.server import serve_asgi

pytestmark = needs_redis_server
TIMEOUT_S = 0.05


def ask(http: httpx.Client, base: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = http.post(
        f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
        json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]},
    )
    return time.perf_counter() - started, response


def test_a_silent_redis_costs_one_timeout_then_requests_go_straight_through():
    with redis_server() as redis, fake_upstream() as (_, url):
        state = RedisState(redis.url, timeout_s=TIMEOUT_S)
        app = ProxyApp(
            holder_of(quota_catalog(url, alice={"requests_per_minute": 10_000}), ENV),
            rng=random.Random(1),
            state=state,
            on_state_unavailable=FAIL_OPEN,
        )
        with serve_asgi(app) as base, httpx.Client(timeout=10) as http:
            _, first = ask(http, base)
            assert "x-ratelimit-limit-requests" in first.headers  # counted in Redis
            before = state.failures
            assert redis.proc is not None
            redis.proc.send_signal(signal.SIGSTOP)  # accepts, never answers: every call times out
            try:
                during = []
                start = time.monotonic()
                for i in range(30):  # 1.5 s of requests, three times the old half-second hold
                    delay = start + i * 0.05 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)  # pacing the load, not waiting for anything
                    during.append(ask(http, base))
                timeouts = state.failures - before
            finally:
                redis.proc.send_signal(signal.SIGCONT)
            back = poll(
                lambda: "x-ratelimit-limit-requests" in ask(http, base)[1].headers, timeout=5
            )
    slow = [s for s, _ in during if s >= TIMEOUT_S]
    print(
        f"\nRedis silent for 30 requests: {timeouts} timeout(s) paid, {len(slow)} answer(s) "
        f"slower than {TIMEOUT_S * 1000:.0f} ms, slowest {max(s for s, _ in during) * 1000:.0f}"
        f" ms; limits counted again {back * 1000:.0f} ms after Redis answered"
    )
    assert all(r.status_code == 200 for _, r in during)  # fail_open: served, unchecked
    assert timeouts == 1  # the first call paid the timeout; none after it waited
    assert max(s for s, _ in during) < 0.5  # one timeout plus a busy machine, never two
