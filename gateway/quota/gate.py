"""The quota admission gate: admit a request against every limit it counts against, tell
the client where it stands (OpenAI's x-ratelimit-* headers), settle what it really used.

    ticket = await gate.admit(routed)      # raises 429 (or 503 when failing closed)
    ...                                    # the request runs; ticket.headers on the answer
    ticket.settle(status, usage, cost)     # once, also on errors and 499
"""

from __future__ import annotations

import asyncio
import calendar
import itertools
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import ProxyError, QuotaExceeded, QuotaStateUnavailable, RateLimited
from gateway.quota.scopes import Limit, Scope, limits_of, reserved_tokens, scopes_of
from gateway.state import (
    CONCURRENT,
    NANOS,
    SPEND,
    WINDOW,
    Admission,
    Reading,
    Settlement,
    StateBackend,
    StateUnavailable,
    duration,
)
from gateway.usage.pricing import Cost, Usage

if TYPE_CHECKING:  # the proxy hands the gate these; the gate never imports the proxy
    from gateway.proxy.reload import Holder
    from gateway.proxy.router import Routed

log = logging.getLogger("modelyard.quota")

FAIL_OPEN, FAIL_CLOSED = "fail_open", "fail_closed"
FAMILY = {"requests_per_minute": "requests", "tokens_per_minute": "tokens"}
WORDS = {
    "requests_per_minute": "requests per minute",
    "tokens_per_minute": "tokens per minute",
    "concurrent_requests": "concurrent requests",
    "budget_per_day": "daily budget",
    "budget_per_month": "monthly budget",
}
LOG_EVERY_S = 5.0  # at most one log line per this many seconds about an unreachable backend


def _fresh_entries() -> itertools.count:
    """Entry ids: counted within a process from a random start, so processes sharing a
    backend never log two requests under one id."""
    return itertools.count(int.from_bytes(os.urandom(6), "big") << 24)


_entries = _fresh_entries()


def _reseed() -> None:
    global _entries
    _entries = _fresh_entries()


os.register_at_fork(after_in_child=_reseed)  # forked workers never share a sequence


@dataclass(slots=True)
class Ticket:
    """An admitted request's claims on its limits, to be settled exactly once."""

    gate: QuotaGate | None
    limits: list[Limit]
    entry: str  # this request's entry in every sliding window
    reserved: int  # tokens reserved in every tokens-per-minute window
    currency: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    settled: bool = False

    def settle(self, status: int, usage: Usage | None, cost: Cost | None) -> None:
        """Give back the in-flight claim, correct the token reservation with the real count
        and add the spend (in the background); only the first call counts."""
        if self.settled or self.gate is None:
            return
        self.settled = True
        self.gate.settle(self, usage, cost)


def unlimited() -> Ticket:
    """The ticket of a request no limit applies to (or admitted while the state is down)."""
    return Ticket(None, [], "", 0, "")


class QuotaGate:
    """One per process, over one state backend; scopes are cached per snapshot."""

    def __init__(
        self, state: StateBackend, holder: Holder, *, on_unavailable: str = FAIL_OPEN
    ) -> None:
        if on_unavailable not in (FAIL_OPEN, FAIL_CLOSED):
            raise ValueError(f"on_unavailable must be {FAIL_OPEN} or {FAIL_CLOSED}")
        self.state = state
        self.holder = holder
        self.on_unavailable = on_unavailable
        self.rejections: Counter[tuple[str, str]] = Counter()  # (subject, limit) -> count
        self.state_errors: Counter[str] = Counter()  # "served" / "refused" -> count
        self._cache_digest: str | None = None
        self._cache: dict[tuple[str, str], tuple[Scope, ...]] = {}
        self._limits: dict[tuple[str, str], tuple[str, list[Limit]]] = {}
        self._last_log = 0.0
        self._pending: list[Settlement] = []
        self._flusher: asyncio.Task | None = None

    def scopes(self, snapshot: Snapshot, consumer: Consumer, model: Model) -> tuple[Scope, ...]:
        if snapshot.digest != self._cache_digest:
            self._cache_digest, self._cache, self._limits = snapshot.digest, {}, {}
        key = (consumer.name, model.name)
        scopes = self._cache.get(key)
        if scopes is None:
            scopes = self._cache[key] = scopes_of(snapshot, consumer, model.name)
        return scopes

    def limits(
        self,
        snapshot: Snapshot,
        consumer: Consumer,
        model: Model,
        scopes: tuple[Scope, ...],
        tokens: int,
    ) -> list[Limit]:
        """The request's checks: built once per (consumer, model) and UTC day, with only
        the token reservations filled in per request."""
        key = (consumer.name, model.name)
        day = time.strftime("%Y%m%d", time.gmtime())
        cached = self._limits.get(key)
        if cached is None or cached[0] != day:
            cached = self._limits[key] = (
                day,
                limits_of(
                    scopes, tokens=0, concurrent_ttl_s=int(snapshot.settings.total_timeout_s) + 60
                ),
            )
        limits = cached[1]
        if tokens:
            limits = [
                Limit(x.scope, x.name, replace(x.check, cost=tokens))
                if x.name == "tokens_per_minute"
                else x
                for x in limits
            ]
        return limits

    async def admit(self, routed: Routed) -> Ticket:
        """Claim the request's share of every limit, or raise the refusal (429; 503 when the
        backend is unreachable and quotas fail closed)."""
        loaded = self.holder.current
        if loaded is None:
            return unlimited()
        snapshot = loaded.snapshot
        scopes = self.scopes(snapshot, routed.consumer, routed.model)
        if not scopes:
            return unlimited()
        tokens = (
            reserved_tokens(routed.body) if any(s.limits.tokens_per_minute for s in scopes) else 0
        )
        limits = self.limits(snapshot, routed.consumer, routed.model, scopes, tokens)
        entry = f"{next(_entries):x}"
        try:
            admission = await self.state.admit([limit.check for limit in limits], entry=entry)
        except StateUnavailable as error:
            return self._unavailable(error)
        headers = rate_headers(limits, admission.readings)
        if not admission.admitted:
            refusal = self._refusal(limits[admission.failed], admission, snapshot)
            refusal.headers.update({k.decode(): v.decode() for k, v in headers})
            raise refusal
        return Ticket(self, limits, entry, tokens, snapshot.settings.currency, headers)

    def _unavailable(self, error: StateUnavailable) -> Ticket:
        closed = self.on_unavailable == FAIL_CLOSED
        self.state_errors["refused" if closed else "served"] += 1
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            log.error(
                "quota state unavailable (%s, %d so far): %s",
                self.on_unavailable,
                sum(self.state_errors.values()),
                error,
            )
        if closed:
            raise QuotaStateUnavailable(
                "quota limits cannot be checked right now (the state backend is "
                "unreachable), so requests are refused; try again shortly",
                headers={"retry-after": "1"},
            )
        return unlimited()

    def _refusal(self, limit: Limit, admission: Admission, snapshot: Snapshot) -> ProxyError:
        self.rejections[(limit.scope.subject, limit.name)] += 1
        check = limit.check
        reading = admission.readings[admission.failed]
        where = limit.scope.subject
        if check.kind == SPEND:
            spent = Decimal(reading.value) / NANOS
            return QuotaExceeded(
                f"The {WORDS[limit.name]} of {where} is spent: {format(spent.normalize(), 'f')} "
                f"of {format(Decimal(check.limit) / NANOS, 'f')} {snapshot.settings.currency}. "
                "New requests are refused until it renews.",
                headers={"retry-after": str(_until_period_end(limit.name))},
            )
        if check.kind == CONCURRENT:
            return RateLimited(
                f"Too many concurrent requests for {where}: limit {check.limit}. "
                "Please try again when one of them has finished.",
                headers={"retry-after": "1"},
            )
        assert reading.window is not None
        family = FAMILY[limit.name]
        window = reading.window
        wait = window.wait_s
        if math.isinf(wait):
            return RateLimited(
                f"Request too large for {where} on {WORDS[limit.name]}: limit {check.limit}, "
                f"requested {check.cost}. Reduce the input or max_tokens.",
                kind=family,
            )
        return RateLimited(
            f"Rate limit reached for {where} on {WORDS[limit.name]}: limit {check.limit}, "
            f"used {window.used}, requested {check.cost}. Please try again in "
            f"{duration(wait)}.",
            kind=family,
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )

    def settle(self, ticket: Ticket, usage: Usage | None, cost: Cost | None) -> None:
        """Ticket.settle's work, done in the background: settlements that pile up while one
        batch is on its way go together in the next (one backend call for many requests)."""
        settlements = _settlements(ticket, usage, cost)
        if not settlements:
            return
        self._pending.extend(settlements)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.state.settle(batch)
            except StateUnavailable as error:
                self.state_errors["unsettled"] += len(batch)
                log.warning("%d quota settlement(s) not recorded: %s", len(batch), error)

    async def drain(self) -> None:
        """Wait for the settlements under way (shutdown, tests)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait((self._flusher,))


def _settlements(ticket: Ticket, usage: Usage | None, cost: Cost | None) -> list[Settlement]:
    used = 0 if usage is None else usage.input_tokens + usage.output_tokens
    spend = 0
    if cost is not None and cost.amount and cost.currency == ticket.currency:
        spend = math.ceil(cost.amount * NANOS)
    out = []
    for limit in ticket.limits:
        check = limit.check
        if check.kind == CONCURRENT:
            out.append(Settlement(check.key, CONCURRENT, -1, "", check.ttl_s))
        elif limit.name == "tokens_per_minute" and used != ticket.reserved:
            out.append(
                Settlement(
                    check.key,
                    WINDOW,
                    used - ticket.reserved,
                    f"{ticket.entry}|{ticket.reserved}",
                    check.ttl_s,
                )
            )
        elif check.kind == SPEND and spend:
            out.append(Settlement(check.key, SPEND, spend, check.arg, check.ttl_s))
    return out


def rate_headers(limits: Sequence[Limit], readings: Sequence[Reading]) -> list[tuple[bytes, bytes]]:
    """OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}: of the tightest
    applicable limit of each family (the one with least remaining)."""
    tightest: dict[str, tuple[int, int, float]] = {}
    for limit, reading in zip(limits, readings, strict=True):
        family = FAMILY.get(limit.name)
        if family is None or reading.window is None:
            continue
        window = reading.window
        candidate = (window.remaining(), limit.check.limit, window.reset_s)
        if family not in tightest or candidate[:2] < tightest[family][:2]:
            tightest[family] = candidate
    headers = []
    for family in ("requests", "tokens"):
        if family in tightest:
            remaining, total, reset = tightest[family]
            headers += [
                (f"x-ratelimit-limit-{family}".encode(), str(total).encode()),
                (f"x-ratelimit-remaining-{family}".encode(), str(remaining).encode()),
                (f"x-ratelimit-reset-{family}".encode(), duration(reset).encode()),
            ]
    return headers


def _until_period_end(name: str, now: float | None = None) -> int:
    """Seconds until the budget's UTC day or month renews."""
    now = time.time() if now is None else now
    t = time.gmtime(now)
    if name == "budget_per_day":
        end = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)) + 86400
    else:
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        end = calendar.timegm((year, month, 1, 0, 0, 0))
    return max(1, math.ceil(end - now))
