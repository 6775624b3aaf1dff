"""The circuit breaker to the numbers: threshold, cooldown growth, cap, jitter, one probe, holds.

Unit tests drive `Breakers` with an injected clock; proxy tests inject the same clock into
the proxy's breakers and count what reaches the fake upstream. docs/resilience.md
states each number tested here.
"""

from __future__ import annotations

import random
import threading

import pytest

from gateway.catalog.snapshot import Breaker as Settings
from gateway.proxy.breaker import CLOSED, HALF_OPEN, OPEN, Breakers, CircuitBreaker
from tests.conftest import (
    KEY_ALICE,
    channel,
    consumer,
    holder_of,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.fault_support import ENV, ask, settle
from tests.upstreams.faulty import faulty_upstream

DEFAULTS = Settings()  # failure_threshold 5, cooldown_s 30, max_cooldown_s 300


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fresh(settings: Settings = DEFAULTS, seed: int = 7) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return Breakers(clock=clock, rng=random.Random(seed)).get("c#1", settings), clock


def open_for(b: CircuitBreaker, clock: Clock) -> float:
    """Fail a closed or half-open breaker open; how long it stays open."""
    while b.state != OPEN:
        b.failure()
    return b.open_until - clock.now


def reopen(b: CircuitBreaker, clock: Clock) -> float:
    """Let the cooldown pass, fail the probe; the new cooldown."""
    clock.now = b.open_until
    assert b.acquire() and b.state == HALF_OPEN
    return open_for(b, clock)


# ----- when it opens -----


def test_defaults_are_5_failures_30_seconds_capped_at_300():
    assert (DEFAULTS.failure_threshold, DEFAULTS.cooldown_s, DEFAULTS.max_cooldown_s) == (
        5,
        30,
        300,
    )


def test_opens_on_exactly_the_fifth_consecutive_failure():
    b, _ = fresh()
    for _ in range(4):
        b.failure()
        assert b.state == CLOSED and b.acquire()
    b.failure()
    assert b.state == OPEN and not b.acquire() and b.unavailable() == "circuit_open"


def test_a_success_restarts_the_count_of_consecutive_failures():
    b, _ = fresh()
    for _ in range(4):
        b.failure()
    b.success()
    for _ in range(4):
        b.failure()
    assert b.state == CLOSED


# ----- how long it stays open -----


def test_first_ejection_lasts_the_cooldown_within_ten_percent():
    b, clock = fresh()
    assert 27 <= open_for(b, clock) <= 33


def test_cooldown_doubles_with_each_reopening_up_to_the_cap():
    b, clock = fresh()
    cooldowns = [open_for(b, clock)] + [reopen(b, clock) for _ in range(6)]
    for got, base in zip(cooldowns, (30, 60, 120, 240, 300, 300, 300), strict=True):
        assert 0.9 * base <= got <= 1.1 * base
    assert max(cooldowns) <= 1.1 * DEFAULTS.max_cooldown_s  # jitter is applied after the cap


def test_jitter_spreads_cooldowns_over_plus_minus_ten_percent():
    cooldowns = [open_for(*fresh(seed=seed)) for seed in range(200)]
    assert all(27 <= c <= 33 for c in cooldowns)
    assert min(cooldowns) < 28 and max(cooldowns) > 32  # really spread, not a constant


def test_still_open_just_before_the_cooldown_ends_and_half_open_at_its_end():
    b, clock = fresh()
    open_for(b, clock)
    clock.now = b.open_until - 0.001
    assert b.unavailable() == "circuit_open"
    clock.now = b.open_until
    assert b.unavailable() is None and b.state == HALF_OPEN


def test_failures_of_requests_in_flight_when_it_opened_do_not_lengthen_the_ejection():
    b, clock = fresh()
    first = open_for(b, clock)
    for _ in range(5):  # stragglers: requests sent before the circuit opened
        b.failure()
    assert b.open_until - clock.now == first


# ----- half-open: one probe -----


def test_half_open_lets_one_probe_through_and_skips_the_channel_meanwhile():
    b, clock = fresh()
    open_for(b, clock)
    clock.now = b.open_until
    assert b.acquire()
    assert [b.acquire() for _ in range(10)] == [False] * 10
    assert b.unavailable() == "circuit_open"


def test_successful_probe_closes_and_resets_the_growth():
    b, clock = fresh()
    open_for(b, clock)
    reopen(b, clock)  # second ejection: 60 s
    clock.now = b.open_until
    assert b.acquire()
    b.success()
    assert b.state == CLOSED and b.acquire() and b.acquire()
    assert 27 <= open_for(b, clock) <= 33  # back to the first cooldown, after 5 new failures


def test_failed_probe_reopens_at_once_with_the_next_cooldown():
    b, clock = fresh()
    open_for(b, clock)
    clock.now = b.open_until
    assert b.acquire()
    b.failure()  # one failure, not five
    assert b.state == OPEN and 54 <= b.open_until - clock.now <= 66


def test_probe_that_ends_without_a_verdict_frees_the_slot_for_the_next_request():
    b, clock = fresh()
    open_for(b, clock)
    clock.now = b.open_until
    assert b.acquire()
    b.release()  # e.g. the client went away
    assert b.state == HALF_OPEN and b.acquire()


# ----- Retry-After holds -----


def test_retry_after_holds_a_closed_channel_for_exactly_that_long_and_counts_as_failure():
    b, clock = fresh()
    b.failure(retry_after=12.5)
    assert b.state == CLOSED and b.failures == 1
    clock.now += 12.49
    assert b.unavailable() == "retry_after"
    clock.now += 0.01
    assert b.unavailable() is None


def test_retry_after_longer_than_the_cooldown_outlasts_it():
    b, clock = fresh()
    for _ in range(4):
        b.failure()
    b.failure(retry_after=100)  # the fifth failure opens it too
    clock.now += 40  # cooldown over (at most 33 s)
    assert b.unavailable() == "retry_after"
    clock.now += 60
    assert b.unavailable() is None and b.acquire() and b.state == HALF_OPEN


# ----- through the proxy -----


def proxy_catalog(url: str) -> dict:
    """Model m1 with channel m1-a; model m2 with m2-a (high) and m2-b (normal)."""
    return snapshot_dict(
        settings={
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 0.5,
            "total_timeout_s": 3,
            "retry_budget": 2,
            "breaker": {"failure_threshold": 2, "cooldown_s": 10, "max_cooldown_s": 40},
        },
        providers=[
            provider("fake", base_url=url, auth={"type": "bearer", "token": "${FAULT_KEY}"})
        ],
        models=[model("m1"), model("m2")],
        channels=[
            channel("m1-a", "m1", "fake", upstream_model="a"),
            channel("m2-a", "m2", "fake", upstream_model="a", priority="high"),
            channel("m2-b", "m2", "fake", upstream_model="b"),
        ],
        consumers=[consumer("alice", KEY_ALICE)],
    )


@pytest.fixture(scope="module")
def clocked_bench():
    clock = Clock()
    with (
        faulty_upstream() as (fake, url),
        running_proxy(holder_of(proxy_catalog(url), ENV, clock=clock)) as (proxy, app),
    ):
        yield fake, proxy, clock, app


@pytest.fixture
def clocked(clocked_bench):
    """The proxy whose breakers read a hand-moved clock, all circuits closed: (fake, url, clock)."""
    fake, proxy, clock, app = clocked_bench
    fake.reset()
    app.holder.breakers.retain(())
    return fake, proxy, clock


@pytest.mark.parametrize(
    "failure",
    [500, 503, 429, {"stall": "headers"}, {"invalid_json": True}, 401, {"cut_after": 2}],
    ids=["500", "503", "429", "timeout", "invalid-json", "401", "cut-stream"],
)
def test_proxy_opens_the_circuit_after_two_failures_of_any_kind(clocked, failure):
    fake, proxy, _ = clocked
    fake.push(failure, failure)
    stream = isinstance(failure, dict) and "cut_after" in failure
    for _ in range(2):
        ask(proxy, "m1", stream=stream)
    result = ask(proxy, "m1", stream=stream)
    assert (result.status, result.code, result.attempts) == (503, "circuit_open", 0)
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [400, 403, 422])
def test_proxy_upstream_client_errors_never_count_and_restart_the_count(clocked, status):
    fake, proxy, _ = clocked
    fake.push(500, status, 500, status, 500)
    assert [ask(proxy, "m1", stream=False).status for _ in range(6)] == [
        502,
        status,
        502,
        status,
        502,
        200,
    ]


def test_proxy_every_channel_open_answers_503_circuit_open_with_retry_after(clocked):
    fake, proxy, clock = clocked
    fake.push(500, 500)
    ask(proxy, "m1", stream=False), ask(proxy, "m1", stream=False)  # open for 9..11 s
    result = ask(proxy, "m1", stream=False)
    assert (result.status, result.code, result.attempts, result.channel) == (
        503,
        "circuit_open",
        0,
        None,
    )
    assert result.headers["retry-after"] in ("9", "10", "11")
    clock.now += 5
    assert ask(proxy, "m1", stream=False).headers["retry-after"] in ("4", "5", "6")


def test_proxy_retry_after_hold_is_passed_on_to_the_client_refused_meanwhile(clocked):
    fake, proxy, clock = clocked
    fake.push({"status": 429, "retry_after": "30"})
    assert ask(proxy, "m1", stream=False).headers["retry-after"] == "30"
    clock.now += 20.5
    result = ask(proxy, "m1", stream=False)
    assert (result.status, result.code, result.headers["retry-after"]) == (
        503,
        "circuit_open",
        "10",
    )


def test_proxy_refused_during_a_probe_is_told_to_retry_in_a_second(clocked):
    fake, proxy, clock = clocked
    fake.push(500, 500, model="a")
    ask(proxy, "m1", stream=False), ask(proxy, "m1", stream=False)
    clock.now += 11.01
    fake.push({"slow": 0.3}, model="a")
    results: list = []
    probe = threading.Thread(target=lambda: results.append(ask(proxy, "m1", stream=False)))
    probe.start()
    settle(lambda: len(fake.requests) == 3)
    during = ask(proxy, "m1", stream=False)
    probe.join(5)
    assert (during.status, during.headers["retry-after"], results[0].status) == (503, "1", 200)


def test_proxy_cooldown_then_probe_then_closed(clocked):
    fake, proxy, clock = clocked
    fake.push(500, 500)
    ask(proxy, "m1", stream=False), ask(proxy, "m1", stream=False)
    clock.now += 8.99  # below 0.9 x 10 s: still open whatever the jitter
    assert ask(proxy, "m1", stream=False).status == 503
    clock.now += 2.02  # above 1.1 x 10 s: half-open whatever the jitter
    assert ask(proxy, "m1", stream=False).status == 200  # the probe
    assert [ask(proxy, "m1", stream=False).status for _ in range(3)] == [200] * 3
    assert len(fake.requests) == 6


def test_proxy_failed_probe_doubles_the_cooldown(clocked):
    fake, proxy, clock = clocked
    fake.push(500, 500, 500)
    ask(proxy, "m1", stream=False), ask(proxy, "m1", stream=False)
    clock.now += 11.01
    assert ask(proxy, "m1", stream=False).status == 502  # the probe fails: open for 18..22 s
    clock.now += 17.99
    assert ask(proxy, "m1", stream=False).status == 503
    clock.now += 4.02
    assert ask(proxy, "m1", stream=False).status == 200


def test_proxy_sends_one_probe_at_a_time_and_others_skip_the_channel(clocked):
    fake, proxy, clock = clocked
    fake.push(500, 500, model="a")
    ask(proxy, "m2", stream=False), ask(proxy, "m2", stream=False)  # m2-a opens, m2-b serves
    clock.now += 11.01
    fake.push({"slow": 0.3}, model="a")  # the probe takes a while
    results: list = []
    probe = threading.Thread(target=lambda: results.append(ask(proxy, "m2", stream=False)))
    probe.start()
    settle(lambda: len(fake.requests_for("a")) == 3)  # the probe reached the upstream
    during = [ask(proxy, "m2", stream=False) for _ in range(3)]
    probe.join(5)
    assert [r.channel for r in during] == ["m2-b"] * 3
    assert results[0].channel == "m2-a" and len(fake.requests_for("a")) == 3


@pytest.mark.parametrize("value", ["inf", "1e400", "Infinity"])
def test_proxy_infinite_retry_after_does_not_hold_a_channel_forever(clocked, value):
    fake, proxy, clock = clocked
    fake.push({"status": 429, "retry_after": value})
    assert ask(proxy, "m1", stream=False).status == 429
    clock.now += 1.1 * 40 + 0.01  # past the longest ejection (max_cooldown_s 40, +10 % jitter)
    assert ask(proxy, "m1", stream=False).status == 200
