"""State in Redis (or Valkey): counters every worker and replica share, circuit openings.

Every call is bounded by `timeout_s` (50 ms by default): the proxy never waits longer for
Redis, whatever the network does. After a failure the backend answers "unavailable" at once
for `HOLD_S` instead of paying the timeout on every request, then tries Redis again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
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
    StateUnavailable,
)
from gateway.state.window import Window

T = TypeVar("T")
log = logging.getLogger("modelyard.state")
PREFIX = "modelyard:"


class RedisState:
    """Counters and circuit openings in Redis, each call one Lua script."""

    name = "redis"
    shared = True
    HOLD_S = 0.5
    SILENT_BEFORE_HOLD = 3
    WARM_CONNECTIONS = 8

    def __init__(self, url: str, *, timeout_s: float = 0.05, prefix: str = PREFIX) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as error:  # pragma: no cover - the extra is installed in tests
            raise ValueError(
                "the Redis state backend needs the redis package: pip install 'modelyard[redis]'"
            ) from error
        self.url = url
        self.timeout_s = timeout_s
        self.prefix = prefix
        # No per-read socket timeout: every call is bounded as a whole in `_call`.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            decode_responses=True,
            lib_name=None,
            lib_version=None,
        )  # no CLIENT SETINFO round trip per connection
        self._admit = self.client.register_script(redis_scripts.ADMIT)
        self._settle = self.client.register_script(redis_scripts.SETTLE)
        self._publish = self.client.register_script(redis_scripts.PUBLISH_OPEN)
        self._circuits = self.client.register_script(redis_scripts.OPEN_CIRCUITS)
        self._down_until = 0.0
        self._consecutive = 0
        self.failures = 0

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        import redis

        if time.monotonic() < self._down_until:
            raise StateUnavailable("Redis was unreachable moments ago")
        task = asyncio.ensure_future(make())
        try:
            done, _ = await asyncio.wait((task,), timeout=self.timeout_s)
            if not done:
                # A reply that came while this process waited for the CPU is still good:
                # let the loop hand it over once before calling Redis silent.
                await asyncio.sleep(0)
                if not task.done():
                    task.cancel()
                    task.add_done_callback(_retrieve)
                    raise TimeoutError
            result = task.result()
        except (TimeoutError, OSError, redis.RedisError) as error:
            self._failed(error)
            raise StateUnavailable(
                f"Redis at {_safe(self.url)} did not answer: {type(error).__name__}"
            ) from None
        except asyncio.CancelledError:
            task.cancel()
            raise
        self._consecutive = 0
        return result

    def _failed(self, error: BaseException) -> None:
        """Count a failure; hold off when Redis is surely gone (refused, or silent three
        times in a row) rather than slow once on a busy machine."""
        self.failures += 1
        self._consecutive += 1
        import redis

        refused = isinstance(error, (OSError, redis.ConnectionError)) and not isinstance(
            error, (TimeoutError, redis.TimeoutError)
        )
        if refused or self._consecutive >= self.SILENT_BEFORE_HOLD:
            self._down_until = time.monotonic() + self.HOLD_S

    async def warm(self) -> None:
        """Connect and load the scripts ahead of the first request, with time to spare: a
        cold connection and script load can take longer than a request may wait."""
        import redis

        try:
            async with asyncio.timeout(2.0):
                for script in (self._admit, self._settle, self._publish, self._circuits):
                    script.sha = await self.client.script_load(script.script)
                # Open a few pooled connections now: a connection opened under load by the
                # first concurrent requests could take longer than their timeout.
                await asyncio.gather(*(self.client.ping() for _ in range(self.WARM_CONNECTIONS)))
        except (TimeoutError, OSError, redis.RedisError) as error:
            self.failures += 1
            log.warning(
                "Redis at %s is not reachable yet: %s", _safe(self.url), type(error).__name__
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
        await self.client.aclose()


def _retrieve(task: asyncio.Future) -> None:
    """Collect an abandoned call's outcome, so nothing is reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def _safe(url: str) -> str:
    """The URL without a password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
