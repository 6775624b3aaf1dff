"""Noticing a client that went away, so its request's task (and upstream call) is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from gateway.proxy.per_loop import PerLoop

Receive = Callable[[], Awaitable[dict[str, Any]]]


class DisconnectWatch:
    """Cancels the request's task when the client goes away, so its upstream call stops.

    A watcher task starts only once the request is older than `START_AFTER_S`: most answers
    are done sooner, and a task created and cancelled for every request costs far more.
    Requests wait for that in one set per event loop, swept by one timer, rather than with
    a timer each. A client that leaves earlier is noticed then (uvicorn keeps the
    disconnect for the next receive).
    """

    START_AFTER_S: ClassVar[float] = 0.05

    __slots__ = ("active", "gone", "since", "_task", "_receive", "_watcher", "_sweeper")

    def __init__(self, receive: Receive) -> None:
        self.active = True
        self.gone = False
        task = asyncio.current_task()
        assert task is not None  # always called from a request's task
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Task | None = None
        self._sweeper = _Sweeper.of(task.get_loop())
        self.since = self._sweeper.add(self)

    def start(self) -> None:
        if self.active:
            self._watcher = self._task.get_loop().create_task(self._watch(self._receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if self.active:
                    self.gone = True
                    self._task.cancel()
                return

    def close(self) -> None:
        if self.active:
            self.active = False
            self._sweeper.waiting.discard(self)
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None


class _Sweeper(PerLoop):
    """The requests of one event loop still waiting to be watched, and the timer that starts
    the watchers of those older than `START_AFTER_S` (armed only while any wait)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.waiting: set[DisconnectWatch] = set()
        self.armed = False

    def add(self, watch: DisconnectWatch) -> float:
        self.waiting.add(watch)
        if not self.armed:
            self.armed = True
            self.loop.call_later(DisconnectWatch.START_AFTER_S, self.sweep)
        return self.loop.time()

    def sweep(self) -> None:
        self.armed = False
        due = self.loop.time() - DisconnectWatch.START_AFTER_S
        for watch in [w for w in self.waiting if w.since <= due]:
            self.waiting.discard(watch)
            watch.start()
        if self.waiting:
            self.armed = True
            oldest = min(w.since for w in self.waiting)
            self.loop.call_at(oldest + DisconnectWatch.START_AFTER_S, self.sweep)
