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

The same timer keeps `IdleTimeout`s, limits that move on with every upstream read: a read
moves the limit's time and leaves the timer alone; when the timer comes, a limit that has
moved is not due, and the timer is armed again at the earliest still open (a limit that
comes back from a pause earlier than the timer arms it itself). A stream's upstream reads
are many (one per event when the upstream paces them), where aiohttp's read timeout
creates and cancels a timer on each: with 1,000 paced streams, the p99 delay the proxy
adds per event went from 3.9 to 2.9 ms (docs/performance.md, "Long streams").
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from types import TracebackType

from gateway.proxy.per_loop import PerLoop

log = logging.getLogger("modelyard.proxy")


class _Due:
    """An entry of an event loop's open deadlines: due at `_when`, then `_expire`d once."""

    __slots__ = ("_when",)

    def __init__(self, when: float) -> None:
        self._when = when

    def _expire(self) -> None:
        raise NotImplementedError


class timeout_at(_Due):  # noqa: N801 - used like asyncio.timeout_at, named like it
    """`with timeout_at(when):` cancels the block at loop time `when` (time.monotonic())."""

    __slots__ = ("_task", "_cancelling", "_expired", "_open")

    def __init__(self, when: float) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is None:
            raise RuntimeError("timeout_at must be used inside a task")
        super().__init__(when)
        self._task = task
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


class IdleTimeout(_Due):
    """Calls `on_expire` once `limit_s` seconds pass waiting, unless closed first.

    For how long an upstream keeps its reader waiting: the limit runs from `touch()` (the
    reader asks for more) and stops at `pause()` (it has its read, and its consumer may be
    slow: a client that reads slowly is not an upstream that went silent). Each costs a
    clock read and an attribute, not a timer. `on_expire` runs in the loop's timer callback:
    it must not block, and what it raises is logged, never passed to the other deadlines.
    """

    __slots__ = ("_limit", "_loop", "_on_expire", "_open")

    def __init__(self, limit_s: float, on_expire: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(loop.time() + limit_s)
        self._limit = limit_s
        self._loop = loop
        self._on_expire = on_expire
        self._open = _OpenDeadlines.of(loop)
        self._open.add(self)

    def touch(self) -> None:
        """The reader waits again: the limit starts from now."""
        self._when = self._loop.time() + self._limit
        self._open.due_by(self._when)  # after a pause, the earliest of all may be this one

    def pause(self) -> None:
        """The reader has its read: no limit runs until the next `touch()`."""
        self._when = math.inf

    def again(self) -> None:
        """Called from `on_expire` when the wait was not the reader's after all: back among
        the open deadlines (an expired limit has left them), from now, as a `touch()`."""
        self._open.waiting.add(self)
        self.touch()

    def close(self) -> None:
        self._open.waiting.discard(self)

    def _expire(self) -> None:
        try:
            self._on_expire()
        except Exception:
            log.exception("an idle timeout's expiry failed")


class _OpenDeadlines(PerLoop):
    """The deadlines of one event loop not yet left, and the one timer that expires them,
    armed no later than the earliest (an entry earlier than the timer re-arms it; one that
    moved later is looked at again when the timer comes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.waiting: set[_Due] = set()
        self.armed_at = math.inf
        self._timer: asyncio.TimerHandle | None = None

    def add(self, deadline: _Due) -> None:
        self.waiting.add(deadline)
        self.due_by(deadline._when)

    def due_by(self, when: float) -> None:
        """The timer armed no later than `when`."""
        if when < self.armed_at:
            self._arm(when)

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
        earliest = min((d._when for d in self.waiting), default=math.inf)
        if earliest < math.inf:  # every entry paused: the next touch() arms the timer
            self._arm(earliest)
