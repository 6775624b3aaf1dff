"""Sliding windows: what a per-minute limit means, and the figures the headers report.

A limit of L per window W admits a request of weight c (1 for requests, its tokens for
tokens) when the weights admitted in the last W seconds plus c stay within L: "at most L
in any minute", exactly. Each admission is one entry (time, weight) in a log that drops
entries older than W; a request's token reservation is corrected in place when it
settles. Chosen over GCRA, which admits a burst and then a steady drip (with a burst of L,
up to 2L in the first minute of a busy spell, or, with a small burst, never the L requests
an admin wrote at once), and over the two-counter approximation, which assumes the
previous minute's traffic was spread evenly and admits up to half as much again when it
came in a burst. The price is memory per limit proportional to the requests admitted in
one window, which Redis holds easily.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window as a backend found it (after its own entry, when admitted)."""

    limit: int
    used: int  # weight admitted in the last window, this request's included when admitted
    wait_s: float  # until a refused request would fit (0 when admitted; inf if it never can)
    reset_s: float  # until everything counted now has slid out

    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def wait_for(
    entries: Iterable[Sequence[Any]], used: int, cost: int, limit: int, width_s: float, now: float
) -> float:
    """Seconds until `cost` fits: entries (time, weight, ...), oldest first, slide out in
    turn (read only when the request does not fit now). The Redis script does the same."""
    if cost > limit:
        return math.inf
    if used + cost <= limit:
        return 0.0
    for at, weight, *_ in entries:
        used -= weight
        if used + cost <= limit:
            return max(0.0, at + width_s - now)
    return width_s


def duration(seconds: float) -> str:
    """A duration as OpenAI's rate-limit headers write it: "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{round(rest):d}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes}m{round(rest):d}s"
