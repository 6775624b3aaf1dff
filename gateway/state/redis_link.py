"""One connection pool to Redis whose every call is bounded by a timeout, and that knows
when Redis is down.

The first failed call (refused, or silent for `timeout_s`) marks Redis down: every call
after it answers "unavailable" at once, so a request pays the timeout at most once however
many calls it makes. A probe in the background pings Redis (at once, then every
`PROBE_S`) and lifts the mark as soon as Redis answers: a single slow answer on a busy
machine costs a few milliseconds of fail-open, an outage costs each request nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.state.base import StateUnavailable

T = TypeVar("T")
log = logging.getLogger("modelyard.state")


class RedisLink:
    """A Redis client shared by the quota counters and the stored documents."""

    PROBE_S = 0.1  # between pings while Redis is down

    def __init__(self, url: str, *, timeout_s: float = 0.05) -> None:
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
        # No per-read socket timeout: every call is bounded as a whole in `call`.
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
        self.down_since: float | None = None
        self.failures = 0
        self._probe: asyncio.Task | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """`await make()`, or StateUnavailable within `timeout_s` (at once while down)."""
        import redis

        if self.down_since is not None:
            raise StateUnavailable(f"Redis at {safe_url(self.url)} is unreachable")
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
            return task.result()
        except (TimeoutError, OSError, redis.RedisError) as error:
            self._failed(error)
            raise StateUnavailable(
                f"Redis at {safe_url(self.url)} did not answer: {type(error).__name__}"
            ) from None
        except asyncio.CancelledError:
            task.cancel()
            raise

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "Redis at %s is unreachable (%s): answering without it until it is back",
                safe_url(self.url),
                type(error).__name__,
            )
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        """Ping until Redis answers in time, then lift the down mark."""
        import redis

        while self.down_since is not None:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.client.ping()
            except (TimeoutError, OSError, redis.RedisError):
                await asyncio.sleep(self.PROBE_S)
                continue
            log.warning(
                "Redis at %s answers again after %.2f s",
                safe_url(self.url),
                time.monotonic() - self.down_since,
            )
            self.down_since = None

    async def warm(self, scripts: tuple[Any, ...] = (), connections: int = 8) -> None:
        """Connect and load `scripts` ahead of the first request, with time to spare: a
        cold connection and script load can take longer than a request may wait."""
        import redis

        try:
            async with asyncio.timeout(2.0):
                for script in scripts:
                    script.sha = await self.client.script_load(script.script)
                # Open a few pooled connections now: a connection opened under load by the
                # first concurrent requests could take longer than their timeout.
                await asyncio.gather(*(self.client.ping() for _ in range(connections)))
        except (TimeoutError, OSError, redis.RedisError) as error:
            self.failures += 1
            log.warning(
                "Redis at %s is not reachable yet: %s", safe_url(self.url), type(error).__name__
            )

    async def aclose(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self.client.aclose()


def _retrieve(task: asyncio.Future) -> None:
    """Collect an abandoned call's outcome, so nothing is reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def safe_url(url: str) -> str:
    """The URL without a password, for messages and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
