"""The default state backend: counters in this process (one worker, no extra service)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from gateway.state.base import CONCURRENT, SPEND, WINDOW, Admission, Check, Reading, Settlement
from gateway.state.window import Window, wait_for


class _Log:
    """One sliding window: entries [time, weight, id] oldest first, and their sum."""

    __slots__ = ("entries", "by_id", "used")

    def __init__(self) -> None:
        self.entries: deque[list] = deque()
        self.by_id: dict[str, list] = {}
        self.used = 0

    def prune(self, now: float, width_s: float) -> None:
        entries = self.entries
        while entries and entries[0][0] <= now - width_s:
            at, weight, id = entries.popleft()
            self.used -= weight
            self.by_id.pop(id, None)


class EmbeddedState:
    """Plain dictionaries; every call completes without awaiting, so the event loop makes
    each one atomic."""

    name = "embedded"
    shared = False
    SWEEP_EVERY = 4096  # admissions between sweeps of idle counters

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._values: dict[str, tuple[int, float]] = {}  # key -> (value, expires at)
        self._admissions = 0

    def _get(self, key: str, now: float) -> int:
        entry = self._values.get(key)
        return 0 if entry is None or entry[1] <= now else entry[0]

    def _add(self, key: str, delta: int, ttl_s: float, now: float) -> None:
        self._values[key] = (max(0, self._get(key, now) + delta), now + ttl_s)

    def _log(self, check: Check, now: float) -> _Log:
        log = self._logs.get(check.key)
        if log is None:
            log = self._logs[check.key] = _Log()
        log.prune(now, float(check.arg))
        return log

    def _read(self, check: Check, now: float) -> Reading:
        if check.kind == WINDOW:
            width = float(check.arg)
            log = self._log(check, now)
            wait = wait_for(log.entries, log.used, check.cost, check.limit, width, now)
            reset = log.entries[-1][0] + width - now if log.entries else 0.0
            return Reading(Window(check.limit, log.used, wait, reset), 0)
        key = check.key if check.kind == CONCURRENT else f"{check.key}:{check.arg}"
        return Reading(None, self._get(key, now))

    async def admit(
        self, checks: Sequence[Check], *, entry: str = "", commit: bool = True
    ) -> Admission:
        now = self._clock()
        readings = [self._read(c, now) for c in checks]
        for i, (check, reading) in enumerate(zip(checks, readings, strict=True)):
            if not _passes(check, reading):
                return Admission(False, i, tuple(readings))
        if not commit:
            return Admission(True, -1, tuple(readings))
        out = []
        for check, reading in zip(checks, readings, strict=True):
            if check.kind == WINDOW:
                log = self._logs[check.key]
                item = [now, check.cost, entry]
                log.entries.append(item)
                log.by_id[entry] = item
                log.used += check.cost
                reading = Reading(Window(check.limit, log.used, 0.0, float(check.arg)), 0)
            elif check.kind == CONCURRENT:
                self._add(check.key, 1, check.ttl_s, now)
                reading = Reading(None, reading.value + 1)
            out.append(reading)
        self._admissions += 1
        if self._admissions % self.SWEEP_EVERY == 0:
            self._sweep(now)
        return Admission(True, -1, tuple(out))

    def _sweep(self, now: float) -> None:
        self._values = {k: v for k, v in self._values.items() if v[1] > now}
        # A log with nothing left is dropped: limits of departed consumers cost nothing.
        self._logs = {
            k: log
            for k, log in self._logs.items()
            if log.entries and log.entries[-1][0] > now - 3600
        }

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        now = self._clock()
        for s in settlements:
            if s.kind == CONCURRENT:
                self._add(s.key, s.delta, s.ttl_s, now)
            elif s.kind == WINDOW:
                log = self._logs.get(s.key)
                item = None if log is None else log.by_id.get(s.arg.split("|")[0])
                if log is not None and item is not None:  # not yet slid out
                    weight = max(0, item[1] + s.delta)
                    log.used += weight - item[1]
                    item[1] = weight
            elif s.delta:
                self._add(f"{s.key}:{s.arg}", s.delta, s.ttl_s, now)

    async def warm(self) -> None:
        return None

    async def publish_open(self, key: str, seconds: float) -> None:
        return None  # one process: its breakers are the only ones

    async def open_circuits(self) -> Mapping[str, float]:
        return {}

    async def aclose(self) -> None:
        return None


def _passes(check: Check, reading: Reading) -> bool:
    """The admission rule; the Redis script applies the same one."""
    if check.kind == WINDOW:
        assert reading.window is not None
        return reading.window.used + check.cost <= check.limit
    if check.kind == CONCURRENT:
        return reading.value + 1 <= check.limit
    assert check.kind == SPEND
    return reading.value < check.limit
