"""The default state backend: counters in this process (one worker, no extra service)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from gateway.state.base import CONCURRENT, SPEND, WINDOW, Admission, Check, Reading, Settlement
from gateway.state.window import Window


class EmbeddedState:
    """Plain dictionaries with expiry times; every call completes without awaiting, so the
    event loop makes each one atomic."""

    name = "embedded"
    shared = False
    SWEEP_EVERY = 4096  # writes between sweeps of expired counters

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._values: dict[str, tuple[float, float]] = {}  # key -> (value, expires at)
        self._writes = 0

    def _get(self, key: str, now: float) -> float:
        entry = self._values.get(key)
        if entry is None or entry[1] <= now:
            return 0.0
        return entry[0]

    def _add(self, key: str, delta: float, ttl_s: float, now: float, *,
             only_existing: bool = False) -> None:
        entry = self._values.get(key)
        if entry is None or entry[1] <= now:
            if only_existing:
                return
            entry = (0.0, 0.0)
        self._values[key] = (max(0.0, entry[0] + delta), now + ttl_s)
        self._writes += 1
        if self._writes % self.SWEEP_EVERY == 0:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}

    def _read(self, check: Check, now: float) -> Reading:
        if check.kind == WINDOW:
            width = float(check.arg)
            bucket = int(now // width)
            window = Window(check.limit, width, self._get(f"{check.key}:{bucket - 1}", now),
                            self._get(f"{check.key}:{bucket}", now), now / width - bucket)
            return Reading(window, 0, bucket)
        key = check.key if check.kind == CONCURRENT else f"{check.key}:{check.arg}"
        return Reading(None, int(self._get(key, now)), 0)

    async def admit(self, checks: Sequence[Check], *, commit: bool = True) -> Admission:
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
                assert reading.window is not None
                self._add(f"{check.key}:{reading.bucket}", check.cost, check.ttl_s, now)
                w = reading.window
                reading = Reading(Window(w.limit, w.window_s, w.prev, w.cur + check.cost,
                                         w.fraction), 0, reading.bucket)
            elif check.kind == CONCURRENT:
                self._add(check.key, 1, check.ttl_s, now)
                reading = Reading(None, reading.value + 1, 0)
            out.append(reading)
        return Admission(True, -1, tuple(out))

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        now = self._clock()
        for s in settlements:
            if s.kind == CONCURRENT:
                self._add(s.key, s.delta, s.ttl_s, now, only_existing=True)
            elif s.delta:
                # A reservation's bucket that has expired needs no correction any more.
                self._add(f"{s.key}:{s.arg}", s.delta, s.ttl_s, now,
                          only_existing=s.kind == WINDOW)

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
        return reading.window.admits(check.cost)
    if check.kind == CONCURRENT:
        return reading.value + 1 <= check.limit
    assert check.kind == SPEND
    return reading.value < check.limit
