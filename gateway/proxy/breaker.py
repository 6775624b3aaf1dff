"""Per-channel circuit breakers and Retry-After holds, kept apart from the snapshot."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable

from gateway.catalog.snapshot import Breaker as BreakerSettings
from gateway.catalog.snapshot import Channel, Provider

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def channel_key(channel: Channel, provider: Provider) -> str:
    """A channel's identity across reloads: its name and what it sends requests to."""
    auth = ",".join(f"{k}={v}" for k, v in sorted(provider.auth.items()))  # references only
    raw = "\n".join(
        (channel.protocol, provider.name, provider.base_url or "", channel.upstream_model, auth)
    )
    return f"{channel.name}#{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


class CircuitBreaker:
    """Closed until `failure_threshold` consecutive failures; then open for a cooldown that
    doubles with each reopening; then half-open, letting one trial request through."""

    __slots__ = (
        "state",
        "failures",
        "openings",
        "open_until",
        "hold_until",
        "trial",
        "_clock",
        "_rng",
        "settings",
        "on_open",
    )

    def __init__(
        self, settings: BreakerSettings, clock: Callable[[], float], rng: random.Random
    ) -> None:
        self.settings = settings
        self.state = CLOSED
        self.failures = 0
        self.openings = 0
        self.open_until = 0.0
        self.hold_until = 0.0  # Retry-After: no request before this time, whatever the state
        self.trial = False
        self._clock = clock
        self._rng = rng
        self.on_open: Callable[[float], None] | None = None  # told the cooldown of each opening

    def unavailable(self) -> str | None:
        """Why no request may go through now, or None."""
        now = self._clock()
        if now < self.hold_until:
            return "retry_after"
        if self.state == OPEN and now >= self.open_until:
            self.state = HALF_OPEN
        if self.state == OPEN or (self.state == HALF_OPEN and self.trial):
            return "circuit_open"
        return None

    def acquire(self) -> bool:
        """Claim the right to send one request (the single trial when half-open)."""
        if self.unavailable() is not None:
            return False
        if self.state == HALF_OPEN:
            self.trial = True
        return True

    def success(self) -> None:
        self.state, self.failures, self.openings, self.trial = CLOSED, 0, 0, False

    def seconds_until_available(self) -> float:
        """How long until a request may go through again (0 once half-open or closed)."""
        until = max(self.hold_until, self.open_until if self.state == OPEN else 0.0)
        return max(0.0, until - self._clock())

    def release(self) -> None:
        """The request ended without saying anything about the channel's health."""
        self.trial = False

    def failure(self, retry_after: float | None = None) -> None:
        now = self._clock()
        self.trial = False
        if retry_after:
            self.hold_until = max(self.hold_until, now + retry_after)
        if self.state == OPEN:
            return  # a request sent before it opened: this ejection already counts it
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.settings.failure_threshold:
            cooldown = min(
                self.settings.cooldown_s * 2**self.openings, self.settings.max_cooldown_s
            )
            # Jitter keeps replicas and channels that failed together from retrying together.
            self.open_until = now + cooldown * self._rng.uniform(0.9, 1.1)
            self.openings += 1
            self.state = OPEN
            if self.on_open is not None:
                self.on_open(self.open_until - now)

    def open_elsewhere(self, seconds: float) -> None:
        """Another process opened this channel's circuit for `seconds`: skip it here too."""
        until = self._clock() + seconds
        if self.state == OPEN and self.open_until >= until - 0.5:
            return  # already open about as long (often this process's own opening)
        self.state, self.open_until, self.trial = OPEN, until, False


class Breakers:
    """Every channel's breaker, keyed by `channel_key` so reloads keep unchanged ones."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._by_key: dict[str, CircuitBreaker] = {}
        #: told (key, seconds) when a circuit opens here: shares it with other processes
        self.on_open: Callable[[str, float], None] | None = None

    def get(self, key: str, settings: BreakerSettings) -> CircuitBreaker:
        breaker = self._by_key.get(key)
        if breaker is None:
            breaker = self._by_key[key] = CircuitBreaker(settings, self._clock, self._rng)
            if self.on_open is not None:
                notify = self.on_open
                breaker.on_open = lambda seconds: notify(key, seconds)
        elif breaker.settings is not settings:
            breaker.settings = settings  # new thresholds apply from the next failure on
        return breaker

    def open_elsewhere(self, key: str, seconds: float) -> None:
        """A circuit another process opened (see gateway/state/circuits.py)."""
        self.get(key, BreakerSettings()).open_elsewhere(seconds)

    def peek(self, key: str) -> CircuitBreaker | None:
        return self._by_key.get(key)

    def retain(self, keys: Iterable[str]) -> None:
        """Forget the breakers of channels that no longer exist (or changed identity)."""
        keep = set(keys)
        for key in [k for k in self._by_key if k not in keep]:
            del self._by_key[key]
