"""Recent per-channel health: success rate, p50 latency, window, ring size, last error."""

from __future__ import annotations

import pytest

from gateway.usage.stats import Stats


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(size: int = 10, window_s: float = 60.0) -> tuple[Stats, Clock]:
    clock = Clock()
    return Stats(size=size, window_s=window_s, clock=clock, wall=lambda: 1_700_000_000.0), clock


def test_unseen_channel_has_no_rate_and_no_latency() -> None:
    stats, _ = make()
    view = stats.view("never")
    assert (view.requests, view.failures, view.success_rate, view.p50_ms, view.last_error) == (
        0,
        0,
        None,
        None,
        None,
    )


def test_success_rate_counts_successes_over_all_attempts() -> None:
    stats, _ = make()
    for _ in range(3):
        stats.success("a", 0.1)
    stats.failure("a", 2.0, "upstream_error", "boom")
    view = stats.view("a")
    assert view.requests == 4
    assert view.failures == 1
    assert view.success_rate == 0.75


def test_p50_is_the_median_of_successful_latencies_only() -> None:
    stats, _ = make()
    for seconds in (0.300, 0.100, 0.200):
        stats.success("a", seconds)
    stats.failure("a", 30.0, "upstream_timeout", "slow")  # a timeout says nothing of speed
    assert stats.view("a").p50_ms == 200.0
    stats.success("a", 0.400)
    assert stats.view("a").p50_ms == 250.0  # even count: mean of the two middle values


def test_outcomes_older_than_the_window_are_not_counted() -> None:
    stats, clock = make(window_s=60)
    stats.failure("a", 1.0, "upstream_error", "old")
    clock.now += 61
    stats.success("a", 0.05)
    view = stats.view("a")
    assert (view.requests, view.success_rate, view.p50_ms) == (1, 1.0, 50.0)
    clock.now += 61
    assert stats.view("a").success_rate is None
    assert stats.view("a").last_error.message == "old"  # the last error stays, however old


def test_ring_keeps_only_the_last_size_outcomes() -> None:
    stats, _ = make(size=4)
    for _ in range(4):
        stats.failure("a", 0.1, "upstream_error", "x")
    for _ in range(3):
        stats.success("a", 0.1)
    view = stats.view("a")
    assert view.requests == 4
    assert view.success_rate == 0.75


def test_channels_are_counted_apart() -> None:
    stats, _ = make()
    stats.success("a", 0.1)
    stats.failure("b", 0.1, "upstream_error", "x")
    assert stats.view("a").success_rate == 1.0
    assert stats.view("b").success_rate == 0.0


def test_last_error_is_sanitised_and_timestamped() -> None:
    stats, _ = make()
    stats.failure(
        "a",
        0.1,
        "upstream_error",
        "bad key sk-abcdefghijklmnop1234 at https://user:pw@api.example.com/v1?key=s3cret",
    )
    error = stats.view("a").last_error
    assert error.code == "upstream_error"
    assert "sk-abcdefghijklmnop1234" not in error.message
    assert "pw" not in error.message and "s3cret" not in error.message
    assert "https://api.example.com" in error.message
    assert error.at == 1_700_000_000.0


def test_retain_forgets_removed_channels() -> None:
    stats, _ = make()
    stats.success("a", 0.1)
    stats.success("b", 0.1)
    stats.retain(["a"])
    assert stats.view("a").requests == 1
    assert stats.view("b").requests == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Stats(size=0)


def test_p99_is_the_nearest_rank_over_successes() -> None:
    stats, _ = make(size=200)
    for ms in range(1, 101):  # 1 ms .. 100 ms
        stats.success("a", ms / 1000)
    stats.failure("a", 9.0, "upstream_timeout", "slow")  # failures never count as latency
    view = stats.view("a")
    assert (view.p50_ms, view.p99_ms) == (50.5, 99.0)


def test_series_cuts_the_window_into_slices_oldest_first() -> None:
    stats, clock = make(size=50, window_s=60.0)
    stats.success("a", 0.2)  # 59 s before the end: first slice
    clock.now += 59
    stats.failure("a", 1.0, "upstream_error", "boom")
    stats.success("a", 0.4)  # now: last slice
    series = stats.series("a", buckets=6)
    assert [(b.requests, b.failures) for b in series] == [
        (1, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (2, 1),
    ]
    assert (series[0].p50_ms, series[-1].p50_ms, series[1].p50_ms) == (200.0, 400.0, None)


def test_series_of_a_quiet_channel_is_none() -> None:
    stats, clock = make(window_s=60.0)
    assert stats.series("never") is None
    stats.success("a", 0.1)
    clock.now += 61
    assert stats.series("a") is None
