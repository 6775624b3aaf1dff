"""Circuit openings shared through the state backend: a channel one process found failing
is skipped by every process within one poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from gateway.state.base import StateBackend, StateUnavailable

if TYPE_CHECKING:  # the proxy hands its breakers in; state never imports the proxy
    from gateway.proxy.breaker import Breakers

log = logging.getLogger("modelyard.state")

POLL_S = 0.25  # how often the openings of other processes are read: well within 1 s
MIN_LEFT_S = 0.1  # openings about to end are left to expire on their own


class SharedCircuits:
    """Publishes this process's openings; applies everyone's, polled every `POLL_S`."""

    def __init__(self, state: StateBackend, breakers: Breakers) -> None:
        self.state = state
        self.breakers = breakers
        self._tasks: set[asyncio.Task] = set()
        breakers.on_open = self.opened

    def opened(self, key: str, seconds: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # opened outside the server (a test driving breakers directly)
        task = loop.create_task(self._publish(key, seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, key: str, seconds: float) -> None:
        try:
            await self.state.publish_open(key, seconds)
        except StateUnavailable as error:
            log.warning("circuit opening of %s not shared: %s", key.split("#")[0], error)

    async def poll_once(self) -> None:
        try:
            opened = await self.state.open_circuits()
        except StateUnavailable:
            return  # counted and logged by the quota side; circuits stay per process
        for key, left in opened.items():
            if left > MIN_LEFT_S:
                self.breakers.open_elsewhere(key, left)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
