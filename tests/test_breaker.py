"""Circuit breakers: thresholds, doubling cooldowns, one trial when half-open, Retry-After."""

from __future__ import annotations

import random

from gateway.catalog.snapshot import Breaker as Settings
from gateway.catalog.snapshot import Channel, Provider
from gateway.proxy.breaker import CLOSED, HALF_OPEN, OPEN, Breakers, CircuitBreaker, channel_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(
    threshold: int = 3, cooldown: float = 10, cap: float = 35
) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(Settings(threshold, cooldown, cap), clock, random.Random(3)), clock


def test_opens_after_threshold_consecutive_failures_only():
    b, _ = breaker()
    b.failure(), b.failure(), b.success(), b.failure(), b.failure()
    assert b.state == CLOSED and b.unavailable() is None
    b.failure()
    assert b.state == OPEN and b.unavailable() == "circuit_open"


def test_half_open_lets_exactly_one_trial_through():
    b, clock = breaker(threshold=1)
    b.failure()
    clock.now = 11.1
    assert b.acquire() and b.state == HALF_OPEN
    assert not b.acquire() and b.unavailable() == "circuit_open"
    b.success()
    assert b.state == CLOSED and b.acquire() and b.acquire()


def test_cooldown_doubles_on_reopening_up_to_the_cap_with_jitter():
    b, clock = breaker(threshold=1, cooldown=10, cap=35)
    cooldowns = []
    for _ in range(4):
        start = clock.now
        b.failure()
        cooldowns.append(b.open_until - start)
        clock.now = b.open_until
        assert b.acquire()
    for got, base in zip(cooldowns, (10, 20, 35, 35), strict=True):
        assert 0.9 * base <= got <= 1.1 * base


def test_released_trial_lets_the_next_request_try():
    b, clock = breaker(threshold=1)
    b.failure()
    clock.now = 12
    assert b.acquire()
    b.release()
    assert b.acquire()


def test_retry_after_holds_channel_even_when_closed():
    b, clock = breaker(threshold=5)
    b.failure(retry_after=4)
    assert b.state == CLOSED and b.unavailable() == "retry_after"
    clock.now = 4.01
    assert b.unavailable() is None


def test_key_changes_with_what_the_channel_sends_to_and_not_otherwise():
    provider = Provider(
        "p", "openai", "http://x/v1", {"type": "bearer", "token": "${K}"}, "inner", {}
    )
    base = Channel(
        "c", "m", "p", "openai", "up", "normal", 1, "active", "inner", None, {}, None, None
    )
    heavier = Channel(
        "c", "m", "p", "openai", "up", "high", 5, "active", "inner", None, {}, None, None
    )
    moved = Channel(
        "c", "m", "p", "openai", "up2", "normal", 1, "active", "inner", None, {}, None, None
    )
    assert channel_key(base, provider) == channel_key(heavier, provider)
    assert channel_key(base, provider) != channel_key(moved, provider)
    other_key = Provider(
        "p", "openai", "http://x/v1", {"type": "bearer", "token": "${K2}"}, "inner", {}
    )
    assert channel_key(base, provider) != channel_key(base, other_key)


def test_registry_forgets_breakers_of_removed_channels():
    breakers = Breakers(clock=Clock())
    breakers.get("a#1", Settings()), breakers.get("b#1", Settings())
    breakers.retain(["a#1"])
    assert breakers.peek("a#1") is not None and breakers.peek("b#1") is None
