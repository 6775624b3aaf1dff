"""Which limits bind one request: the consumer's and its orgs', for all models and per model,
turned into the checks a state backend admits together."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.catalog.snapshot import Consumer, Limits, Model, Snapshot
from gateway.state import CONCURRENT, NANOS, SPEND, WINDOW, Check
from gateway.usage.pricing import estimate_tokens, prompt_text

MINUTE_S = 60
WINDOW_TTL_S = 2 * MINUTE_S + 5  # the previous window is read until the current one ends
DAY_TTL_S = 2 * 86400
MONTH_TTL_S = 32 * 86400

#: limit name -> the header family it reports in ("requests", "tokens") or None
LIMIT_NAMES = (
    "budget_per_day",
    "budget_per_month",
    "concurrent_requests",
    "requests_per_minute",
    "tokens_per_minute",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """One set of limits and who shares it: "consumer:alice", "org:research model:gpt-4o"."""

    subject: str
    limits: Limits


@dataclass(frozen=True, slots=True)
class Limit:
    """One check of a request with what it limits, for headers, errors and status."""

    scope: Scope
    name: str  # one of LIMIT_NAMES
    check: Check


def scopes_of(snapshot: Snapshot, consumer: Consumer, model: str | None) -> tuple[Scope, ...]:
    """Every quota scope a request of `consumer` for `model` counts against (None: the
    scopes for all models only)."""
    owners: list[tuple[str, Any]] = []
    if consumer.quota is not None:
        owners.append((f"consumer:{consumer.name}", consumer.quota))
    for org in sorted(consumer.orgs):
        quota = snapshot.org_quotas.get(org)
        if quota is not None:
            owners.append((f"org:{org}", quota))
    scopes: list[Scope] = []
    for subject, quota in owners:
        scopes.append(Scope(subject, quota.limits))
        if model is not None and model in quota.models:
            scopes.append(Scope(f"{subject} model:{model}", quota.models[model]))
    return tuple(scopes)


def reserved_tokens(body: Mapping[str, Any]) -> int:
    """What a request reserves of a tokens-per-minute limit: its prompt's estimate (one token
    per four characters) and the output it allows itself (`max_completion_tokens` or
    `max_tokens`); without one, the output is counted when the request settles."""
    output = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    output = output if isinstance(output, int) and output > 0 else 0
    return estimate_tokens(prompt_text(body)) + output


def limits_of(
    scopes: Sequence[Scope], *, tokens: int, concurrent_ttl_s: int, now: float | None = None
) -> list[Limit]:
    """The checks of one request, budgets first: the first refusal is the one reported."""
    now = time.time() if now is None else now
    day = time.strftime("%Y%m%d", time.gmtime(now))
    month = day[:6]
    out: list[Limit] = []
    for scope in scopes:
        base = f"q|{scope.subject}|"
        lim = scope.limits
        if lim.budget_per_day is not None:
            out.append(
                Limit(
                    scope,
                    "budget_per_day",
                    Check(base + "day", SPEND, nanos(lim.budget_per_day), 0, day, DAY_TTL_S),
                )
            )
        if lim.budget_per_month is not None:
            out.append(
                Limit(
                    scope,
                    "budget_per_month",
                    Check(
                        base + "month", SPEND, nanos(lim.budget_per_month), 0, month, MONTH_TTL_S
                    ),
                )
            )
        if lim.concurrent_requests is not None:
            out.append(
                Limit(
                    scope,
                    "concurrent_requests",
                    Check(
                        base + "inflight",
                        CONCURRENT,
                        lim.concurrent_requests,
                        1,
                        "",
                        concurrent_ttl_s,
                    ),
                )
            )
        if lim.requests_per_minute is not None:
            out.append(
                Limit(
                    scope,
                    "requests_per_minute",
                    Check(
                        base + "rpm",
                        WINDOW,
                        lim.requests_per_minute,
                        1,
                        str(MINUTE_S),
                        WINDOW_TTL_S,
                    ),
                )
            )
        if lim.tokens_per_minute is not None:
            out.append(
                Limit(
                    scope,
                    "tokens_per_minute",
                    Check(
                        base + "tpm",
                        WINDOW,
                        lim.tokens_per_minute,
                        tokens,
                        str(MINUTE_S),
                        WINDOW_TTL_S,
                    ),
                )
            )
    out.sort(key=lambda limit: LIMIT_NAMES.index(limit.name))
    return out


def nanos(amount: Decimal) -> int:
    """An amount of money in integer billionths (rounded up: a budget is never exceeded by
    rounding)."""
    return math.ceil(amount * NANOS)


def scopes_with_quota(snapshot: Snapshot) -> list[tuple[Scope, Model | None]]:
    """Every scope of the snapshot with its model, for status pages and metrics."""
    out: list[tuple[Scope, Model | None]] = []
    owners = [(f"consumer:{c.name}", c.quota) for c in snapshot.consumers if c.quota]
    owners += [(f"org:{name}", q) for name, q in sorted(snapshot.org_quotas.items())]
    for subject, quota in owners:
        out.append((Scope(subject, quota.limits), None))
        for model, limits in sorted(quota.models.items()):
            out.append(
                (Scope(f"{subject} model:{model}", limits), snapshot.models_by_name.get(model))
            )
    return out
