"""Taking the next item of an async iterator without waiting, when it is already there.

A stream relay writes to its client once per upstream read rather than once per event: it
keeps what the upstream's iterator gives at once (the events of one read) and writes them
together just before the iterator would wait for the network. `next_now` starts the
iterator's next step by hand; a step that would wait comes back as a `Pending`, awaited
later from where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any


class Pending:
    """A next step that started and would wait: awaiting it waits where it stopped."""

    __slots__ = ("_step", "_waiting_on")

    def __init__(self, step: Any, waiting_on: Any) -> None:
        self._step = step  # the `anext` awaitable, run by hand up to its first wait
        self._waiting_on = waiting_on  # what it waits on (a future, or None for a bare yield)

    def __await__(self) -> Generator[Any, Any, Any]:
        step, waiting_on = self._step, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except BaseException as error:  # thrown in by the task: a cancellation
                try:
                    waiting_on = step.throw(error)
                except StopIteration as done:
                    return done.value
                continue
            try:
                waiting_on = step.send(sent)
            except StopIteration as done:
                return done.value

    async def abandon(self) -> None:
        """Cancel the step where it waits and let the iterator clean up behind it."""
        try:
            self._waiting_on = self._step.throw(asyncio.CancelledError())
        except BaseException:
            return  # it ended at once
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self


def next_now(iterator: AsyncIterator[Any]) -> Any:
    """The next item when the iterator has it at once, else a `Pending` to await.

    Raises StopAsyncIteration and the iterator's own errors as `anext` would.
    """
    step: Any = anext(iterator)  # an awaitable with `send`: a coroutine or an asend object
    try:
        waiting_on = step.send(None)
    except StopIteration as done:
        return done.value
    return Pending(step, waiting_on)
