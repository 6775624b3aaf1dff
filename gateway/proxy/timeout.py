"""A deadline for the code inside a `with` block: asyncio.timeout_at's behaviour, lighter.

Every proxied request enters one or two of these. asyncio.timeout_at is an async context
manager (two coroutines per use) with a state machine for rescheduling; this is a plain
context manager over one timer handle, and raises TimeoutError the same way: only when its
own expiry cancelled the task, never for a cancellation that came from elsewhere.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class timeout_at:  # noqa: N801 - used like asyncio.timeout_at, named like it
    """`with timeout_at(when):` cancels the block at loop time `when` (time.monotonic())."""

    __slots__ = ("_task", "_handle", "_cancelling", "_expired")

    def __init__(self, when: float) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is None:
            raise RuntimeError("timeout_at must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._handle = task.get_loop().call_at(when, self._expire)

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
        self._handle.cancel()
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from error

    @property
    def expired(self) -> bool:
        return self._expired
