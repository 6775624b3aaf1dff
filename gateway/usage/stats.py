"""Recent health of each channel: success rate, median latency and last error, per replica.

API for the request path (call once per upstream attempt, after it ends):

    stats = Stats()                                  # one per process, beside the breakers
    stats.success(channel_name, latency_s)
    stats.failure(channel_name, latency_s, code, message)   # message is sanitised here
    stats.view(channel_name) -> ChannelStats         # for /admin/status (read side)
    stats.series(channel_name, buckets=30) -> [Bucket]   # the window in slices: sparklines
    stats.take_attempts() -> [(channel, successes, failures)]  # new since the last take
    stats.retain(channel_names)                      # after a reload: forget removed channels

Each channel keeps a ring of its last `size` outcomes; recording is O(1) and allocates
nothing once the ring is full. A view counts only the outcomes of the last `window_s`
seconds, and its p50 and p99 are over successful attempts (a timeout's duration says little about
the channel's speed). State is per process: with several workers each reports its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.usage.redact import sanitize

DEFAULT_SIZE = 200
DEFAULT_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class LastError:
    code: str
    message: str
    at: float  # wall-clock seconds


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """What the recent outcomes of one channel say."""

    requests: int
    failures: int
    success_rate: float | None  # None when nothing happened in the window
    p50_ms: float | None  # None when nothing succeeded in the window
    last_error: LastError | None  # the latest failure, however old
    p99_ms: float | None = None  # None when nothing succeeded in the window


@dataclass(frozen=True, slots=True)
class Bucket:
    """One slice of the window, oldest first: its attempts, failures and median latency."""

    requests: int
    failures: int
    p50_ms: float | None


class _Ring:
    """The last `size` outcomes of one channel in parallel preallocated lists."""

    __slots__ = ("at", "ok", "latency", "next", "count", "last_error", "successes", "failures")

    def __init__(self, size: int) -> None:
        self.at = [0.0] * size
        self.ok = [False] * size
        self.latency = [0.0] * size
        self.next = 0
        self.count = 0
        self.last_error: LastError | None = None
        self.successes = self.failures = 0  # since the last `Stats.take_attempts`

    def add(self, at: float, ok: bool, latency_s: float) -> None:
        if ok:
            self.successes += 1
        else:
            self.failures += 1
        i = self.next
        self.at[i], self.ok[i], self.latency[i] = at, ok, latency_s
        self.next = (i + 1) % len(self.at)
        if self.count < len(self.at):
            self.count += 1


class Stats:
    """Per-channel rings, keyed by channel name."""

    def __init__(
        self,
        *,
        size: int = DEFAULT_SIZE,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.window_s = window_s
        self._clock = clock
        self._wall = wall
        self._rings: dict[str, _Ring] = {}

    def _ring(self, channel: str) -> _Ring:
        ring = self._rings.get(channel)
        if ring is None:
            ring = self._rings[channel] = _Ring(self.size)
        return ring

    def success(self, channel: str, latency_s: float) -> None:
        """An attempt on `channel` got an answer."""
        self._ring(channel).add(self._clock(), True, latency_s)

    def failure(self, channel: str, latency_s: float, code: str, message: str | None) -> None:
        """An attempt on `channel` failed in a way that says something about the channel."""
        ring = self._ring(channel)
        ring.add(self._clock(), False, latency_s)
        ring.last_error = LastError(code, sanitize(message) or "", self._wall())

    def view(self, channel: str) -> ChannelStats:
        """The channel's outcomes within the window (all zero for an unseen channel)."""
        ring = self._rings.get(channel)
        if ring is None:
            return ChannelStats(0, 0, None, None, None)
        since = self._clock() - self.window_s
        latencies: list[float] = []
        requests = failures = 0
        for i in range(ring.count):
            if ring.at[i] < since:
                continue
            requests += 1
            if ring.ok[i]:
                latencies.append(ring.latency[i])
            else:
                failures += 1
        rate = None if requests == 0 else (requests - failures) / requests
        latencies.sort()
        return ChannelStats(
            requests,
            failures,
            rate,
            _median_ms(latencies),
            ring.last_error,
            _quantile_ms(latencies, 0.99),
        )

    def series(self, channel: str, buckets: int = 30) -> list[Bucket] | None:
        """The window cut into `buckets` equal slices, oldest first; None for a channel with
        no attempt in the window (nothing to draw)."""
        ring = self._rings.get(channel)
        if ring is None:
            return None
        now = self._clock()
        width = self.window_s / buckets
        counts = [[0, 0] for _ in range(buckets)]
        latencies: list[list[float]] = [[] for _ in range(buckets)]
        for i in range(ring.count):
            age = now - ring.at[i]
            if age > self.window_s:
                continue
            slot = max(0, buckets - 1 - int(age / width))
            counts[slot][0] += 1
            if ring.ok[i]:
                latencies[slot].append(ring.latency[i])
            else:
                counts[slot][1] += 1
        if not any(n for n, _ in counts):
            return None
        return [
            Bucket(n, failed, _median_ms(sorted(lat)))
            for (n, failed), lat in zip(counts, latencies, strict=True)
        ]

    def take_attempts(self) -> list[tuple[str, int, int]]:
        """(channel, successes, failures) since the last call, for channels with any."""
        taken = []
        for name, ring in self._rings.items():
            if ring.successes or ring.failures:
                taken.append((name, ring.successes, ring.failures))
                ring.successes = ring.failures = 0
        return taken

    def retain(self, channels: Iterable[str]) -> None:
        """Forget channels that no longer exist."""
        keep = set(channels)
        for name in [n for n in self._rings if n not in keep]:
            del self._rings[name]


def _quantile_ms(ordered: list[float], q: float) -> float | None:
    """The nearest-rank quantile of sorted latencies, in milliseconds."""
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))
    return round(ordered[rank] * 1000, 1)


def _median_ms(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    middle = len(ordered) // 2
    value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(value * 1000, 1)
