"""The sliding-window counter both state backends share: admission, remaining and waits.

A limit of L per window W keeps two counters: the current fixed window's and the previous
one's. The use at time t is estimated as `prev * (1 - f) + cur`, f being how far t is into
the current window. Against a log of every request (exact, but memory and work grow with
the limit) this is two integers per limit whatever the traffic, and a weighted increment
(tokens) or a later correction (the real token count replacing the reservation) is one
INCRBY on the bucket that took the reservation. Against GCRA it keeps the meaning admins
write in the catalog, "at most L in any minute", instead of a burst plus a steady drip
(GCRA with a burst of L admits up to 2L in the first minute of a busy spell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    """The two counters of one limit at one moment, as a backend read them."""

    limit: float
    window_s: float
    prev: float
    cur: float
    fraction: float  # 0 <= f < 1: how far into the current window

    @property
    def used(self) -> float:
        return self.prev * (1.0 - self.fraction) + self.cur

    def admits(self, cost: float) -> bool:
        return self.used + cost <= self.limit

    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.used))

    def wait_s(self, cost: float) -> float:
        """Seconds until `cost` more would be admitted, if nothing else is admitted meanwhile;
        inf when `cost` alone is over the limit."""
        if cost > self.limit:
            return math.inf
        if self.used + cost <= self.limit:
            return 0.0
        left = 1.0 - self.fraction
        if self.cur + cost <= self.limit and self.prev > 0:
            # Within this window, once enough of the previous one has slid out.
            needed = 1.0 - (self.limit - self.cur - cost) / self.prev
            return max(0.0, (needed - self.fraction) * self.window_s)
        # In the next window, once enough of this one has slid out.
        needed = 1.0 - (self.limit - cost) / self.cur if self.cur > 0 else 0.0
        return (left + max(0.0, needed)) * self.window_s

    def reset_s(self) -> float:
        """Seconds until the window is back to its full limit, if nothing more is admitted."""
        left = (1.0 - self.fraction) * self.window_s
        if self.cur > 0:
            return left + self.window_s
        return left if self.prev > 0 else 0.0


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
