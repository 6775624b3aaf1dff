"""What a state backend does for quotas and circuits, and the values it trades in.

A request's quota checks go to the backend in one call that admits all of them or none
(`admit`); what the request really used is settled in one more call (`settle`). Embedded
(one process) and Redis (every worker and replica) behave the same; the Redis one does
each call as one atomic script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import ModelyardError
from gateway.state.window import Window

#: Check kinds: a sliding window (per minute), requests in flight, spend in a period.
WINDOW, CONCURRENT, SPEND = "w", "c", "s"
#: Spend is counted in integer billionths of the currency unit: exact, and INCRBY-able.
NANOS = 1_000_000_000


class StateUnavailable(ModelyardError):
    """The state backend did not answer in time or at all."""


@dataclass(frozen=True, slots=True)
class Check:
    """One limit a request must pass: `cost` more of `key` must stay within `limit`.

    `arg` is the window length in seconds (WINDOW) or the period's id (SPEND, "20261204");
    `ttl_s` bounds how long the counter outlives its last use.
    """

    key: str
    kind: str
    limit: int
    cost: int
    arg: str
    ttl_s: int


@dataclass(frozen=True, slots=True)
class Reading:
    """A check's state as admission found it (after its own increment, when admitted)."""

    window: Window | None  # WINDOW checks
    value: int  # in flight (CONCURRENT) or spent (SPEND)


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    failed: int  # index of the first check that refused; -1 when admitted
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class Settlement:
    """A correction to one counter: tokens used minus reserved, one request out, spend."""

    key: str
    kind: str
    delta: int
    arg: str  # WINDOW: "entry|weight admitted"; SPEND: the period
    ttl_s: int


class StateBackend(Protocol):
    """Counters for quotas and circuit openings, in this process or shared."""

    name: str  # "embedded" or "redis"
    shared: bool  # seen by other processes

    async def admit(
        self, checks: Sequence[Check], *, entry: str = "", commit: bool = True
    ) -> Admission:
        """Admit all checks or none, logging windows' weights under `entry` (unique per
        request); `commit=False` only reads (status pages)."""
        ...

    async def warm(self) -> None:
        """Get ready for the first request (connect, load scripts); never raises."""
        ...

    async def settle(self, settlements: Sequence[Settlement]) -> None: ...

    async def publish_open(self, key: str, seconds: float) -> None:
        """Tell every process that the circuit `key` is open for `seconds`."""
        ...

    async def open_circuits(self) -> Mapping[str, float]:
        """Circuits opened anywhere and still open: key -> seconds left."""
        ...

    async def aclose(self) -> None: ...
