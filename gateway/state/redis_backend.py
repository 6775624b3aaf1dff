"""State in Redis (or Valkey): counters every worker and replica share, circuit openings.

Every call is bounded by `timeout_s` (50 ms by default): the proxy never waits longer for
Redis, whatever the network does. After a failure the backend answers "unavailable" at once
until a background ping finds Redis back (gateway/state/redis_link.py), so a request pays
the timeout once at most.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from gateway.state import redis_scripts
from gateway.state.base import (
    CONCURRENT,
    WINDOW,
    Admission,
    Check,
    Reading,
    Settlement,
)
from gateway.state.redis_link import RedisLink
from gateway.state.window import Window

T = TypeVar("T")
PREFIX = "modelyard:"


class RedisState:
    """Counters and circuit openings in Redis, each call one Lua script."""

    name = "redis"
    shared = True
    WARM_CONNECTIONS = 8

    def __init__(self, url: str, *, timeout_s: float = 0.05, prefix: str = PREFIX) -> None:
        self.link = RedisLink(url, timeout_s=timeout_s)
        self.url = url
        self.timeout_s = timeout_s
        self.prefix = prefix
        client = self.link.client
        self._admit = client.register_script(redis_scripts.ADMIT)
        self._settle = client.register_script(redis_scripts.SETTLE)
        self._publish = client.register_script(redis_scripts.PUBLISH_OPEN)
        self._circuits = client.register_script(redis_scripts.OPEN_CIRCUITS)

    @property
    def failures(self) -> int:
        return self.link.failures

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        return await self.link.call(make)

    async def warm(self) -> None:
        await self.link.warm(
            (self._admit, self._settle, self._publish, self._circuits), self.WARM_CONNECTIONS
        )

    async def admit(
        self, checks: Sequence[Check], *, entry: str = "", commit: bool = True
    ) -> Admission:
        args: list[Any] = ["1" if commit else "0", entry or "-"]
        for c in checks:
            args += [c.kind, c.limit, c.cost, c.arg, c.ttl_s]
        keys = [self.prefix + c.key for c in checks]
        raw = await self._call(lambda: self._admit(keys=keys, args=args))
        failed = int(raw[0])
        admitted = failed < 0 and commit
        readings = []
        for i, c in enumerate(checks):
            value, wait_ms, reset_ms = (int(x) for x in raw[1 + 3 * i : 4 + 3 * i])
            if c.kind == WINDOW:
                if admitted:  # this request's own entry counts, and resets last
                    value, reset_ms = value + c.cost, int(float(c.arg) * 1000)
                wait = math.inf if wait_ms < 0 else wait_ms / 1000
                readings.append(Reading(Window(c.limit, value, wait, reset_ms / 1000), 0))
            else:
                readings.append(
                    Reading(None, value + (1 if c.kind == CONCURRENT and admitted else 0))
                )
        return Admission(failed < 0, failed, tuple(readings))

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return
        keys = [self.prefix + s.key for s in settlements]
        args: list[Any] = []
        for s in settlements:
            args += [s.kind, s.delta, s.arg, s.ttl_s]
        await self._call(lambda: self._settle(keys=keys, args=args))

    async def publish_open(self, key: str, seconds: float) -> None:
        ms = max(1, int(seconds * 1000))
        await self._call(lambda: self._publish(keys=[self.prefix + "circuits"], args=[key, ms]))

    async def open_circuits(self) -> Mapping[str, float]:
        raw = await self._call(lambda: self._circuits(keys=[self.prefix + "circuits"]))
        return {raw[i]: int(raw[i + 1]) / 1000 for i in range(0, len(raw), 2)}

    async def aclose(self) -> None:
        await self.link.aclose()
