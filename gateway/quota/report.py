"""Quota use against limits, for `/admin/status`, `/metrics` and `modelyard status`.

Shape of the `quotas` section of the status document:

    {"backend": "embedded"|"redis", "shared": bool, "on_unavailable": "fail_open"|...,
     "available": bool, "state_errors": {"served": n, "refused": n, "unsettled": n, "unstored": n},
     "scopes": [{"subject": "consumer:alice" | "org:research model:gpt-4o",
                 "limits": {"requests_per_minute": {"limit": 60, "used": 12},
                            "budget_per_day": {"limit": "5", "used": "0.0123"}, ...},
                 "rejections": {limit name: n}}]}

`used` of a per-minute limit is the sliding window's estimate now, of a budget the spend
of the current day or month in the catalog's currency (decimal strings).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.catalog.snapshot import Snapshot
from gateway.quota.gate import QuotaGate
from gateway.quota.scopes import limits_of, scopes_with_quota
from gateway.state import NANOS, SPEND, WINDOW, StateUnavailable


async def quota_status(gate: QuotaGate, snapshot: Snapshot) -> dict[str, Any]:
    """Every quota scope of the snapshot with its current use; one backend read."""
    scoped = scopes_with_quota(snapshot)
    limits = limits_of([s for s, _ in scoped], tokens=0, concurrent_ttl_s=60)
    available = True
    readings: tuple = ()
    if limits:
        try:
            readings = (
                await gate.state.admit([limit.check for limit in limits], commit=False)
            ).readings
        except StateUnavailable:
            available = False
    by_subject: dict[str, dict[str, Any]] = {}
    for i, limit in enumerate(limits):
        entry = by_subject.setdefault(
            limit.scope.subject, {"subject": limit.scope.subject, "limits": {}, "rejections": {}}
        )
        check = limit.check
        used: Any = None
        if readings:
            reading = readings[i]
            if check.kind == WINDOW:
                assert reading.window is not None
                used = reading.window.used
            elif check.kind == SPEND:
                used = _money(reading.value)
            else:
                used = reading.value
        entry["limits"][limit.name] = {
            "limit": _money(check.limit) if check.kind == SPEND else check.limit,
            "used": used,
        }
    for (subject, name), count in gate.rejections.items():
        if subject in by_subject:
            by_subject[subject]["rejections"][name] = count
    return {
        "backend": gate.state.name,
        "shared": gate.state.shared,
        "on_unavailable": gate.on_unavailable,
        "available": available,
        "currency": snapshot.settings.currency,
        "state_errors": dict(gate.state_errors),
        "scopes": [by_subject[s.subject] for s, _ in scoped if s.subject in by_subject],
    }


def _money(nanos: int) -> str:
    return format((Decimal(nanos) / NANOS).normalize(), "f")
