"""A deadline for the code inside a `with` block: asyncio.timeout_at's behaviour, lighter.

Every proxied request enters one or two of these. asyncio.timeout_at is an async context
manager (two coroutines per use) with a state machine for rescheduling; this is a plain
context manager, and raises TimeoutError the same way: only when its own expiry cancelled
the task, never for a cancellation that came from elsewhere.

Nor does each deadline start a timer of its own: the open deadlines of an event loop wait
in one set, and one timer, armed at the earliest of them, expires those that are due. A
deadline is then a set entry added and removed (the request's total deadline is minutes
away and almost never fires), where a timer handle created and cancelled per request cost
about 2.5 µs of a plain request's 55 in-process
(`python3 -m benchmarks.proxy.features --only deadlines`).
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

from gateway.proxy.per_loop import PerLoop


class timeout_at:  # noqa: N801 - used like asyncio.timeout_at, named like it
    """`with timeout_at(when):` cancels the block at loop time `when` (time.monotonic())."""

    __slots__ = ("_task", "_when", "_cancelling", "_expired", "_open")

    def __init__(self, when: float) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is None:
            raise RuntimeError("timeout_at must be used inside a task")
        self._task = task
        self._when = when
        self._cancelling = task.cancelling()
        self._expired = False
        self._open = _OpenDeadlines.of(task.get_loop())
        self._open.add(self)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def __enter__(self) -> timeout_at:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._open.waiting.discard(self)
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from error

    @property
    def expired(self) -> bool:
        return self._expired


class _OpenDeadlines(PerLoop):
    """The deadlines of one event loop not yet left, and the one timer that expires them,
    armed no later than the earliest (an entry earlier than the timer re-arms it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.waiting: set[timeout_at] = set()
        self.armed_at = math.inf
        self._timer: asyncio.TimerHandle | None = None

    def add(self, deadline: timeout_at) -> None:
        self.waiting.add(deadline)
        if deadline._when < self.armed_at:
            self._arm(deadline._when)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.armed_at = when
        self._timer = self.loop.call_at(when, self._expire_due)

    def _expire_due(self) -> None:
        self._timer, self.armed_at = None, math.inf
        now = self.loop.time()
        for deadline in [d for d in self.waiting if d._when <= now]:
            self.waiting.discard(deadline)
            deadline._expire()
        if self.waiting:
            self._arm(min(d._when for d in self.waiting))
