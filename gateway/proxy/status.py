"""The document behind `GET /admin/status`: every model and channel with its recent health.

API for the proxy (admin scope only; the document holds no secret and no key):

    document = status_of(holder, stats)        # dict, ready for JSON; NotReady before a load

or, from parts (what the tests use):

    build_status(snapshot, breaker_states(loaded, breakers), stats,
                 loaded_at=..., last_reload_error=..., unavailable=loaded.unavailable)

Document shape (`schema` 1):

    {"schema": 1, "digest", "loaded_at", "generated_at", "last_reload_error", "window_s",
     "models": [{"name", "display_name", "type", "status", "visibility",
                 "available_channels",
                 "channels": [{"name", "provider", "protocol", "upstream_model", "priority",
                               "weight", "status", "unavailable": reason|null,
                               "circuit": {"state": closed|open|half_open, "until",
                                           "retry_after_until", "failures"},
                               "recent": {"requests", "failures", "success_rate", "p50_ms",
                                          "p99_ms"},
                               "series": [{"requests", "failures", "p50_ms"}]|null,
                               "last_error": {"code", "message", "at"}|null}]}]}

Times are ISO 8601 UTC strings; `success_rate` is 0..1 or null when the window is empty.
`series` cuts the window into `SERIES_BUCKETS` slices, oldest first (the sparklines of
/admin/ui); null for a channel with no attempt in the window.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Channel, Model, Snapshot
from gateway.errors import NotReady
from gateway.proxy.breaker import HALF_OPEN, OPEN, Breakers, CircuitBreaker
from gateway.proxy.reload import Holder, Loaded
from gateway.usage.redact import sanitize
from gateway.usage.stats import Stats

SCHEMA = 1
MESSAGE_CHARS = 120
SERIES_BUCKETS = 30
CLOSED_CIRCUIT: Mapping[str, Any] = {
    "state": "closed",
    "until": None,
    "retry_after_until": None,
    "failures": 0,
}


def iso(when: float | None) -> str | None:
    if when is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def breaker_state(breaker: CircuitBreaker | None, *, now: float, wall_now: float) -> dict[str, Any]:
    """A breaker as the status shows it, read without changing it (monotonic -> wall time)."""
    if breaker is None:
        return dict(CLOSED_CIRCUIT)
    state = breaker.state
    if state == OPEN and now >= breaker.open_until:
        state = HALF_OPEN  # what the next request will find
    until = iso(wall_now + breaker.open_until - now) if state == OPEN else None
    hold = iso(wall_now + breaker.hold_until - now) if breaker.hold_until > now else None
    return {"state": state, "until": until, "retry_after_until": hold, "failures": breaker.failures}


def breaker_states(
    loaded: Loaded, breakers: Breakers, *, now: float | None = None, wall_now: float | None = None
) -> dict[str, dict[str, Any]]:
    """Every channel's circuit, keyed by channel name."""
    now = time.monotonic() if now is None else now
    wall_now = time.time() if wall_now is None else wall_now
    return {
        name: breaker_state(breakers.peek(key), now=now, wall_now=wall_now)
        for name, key in loaded.breaker_keys.items()
    }


def build_status(
    snapshot: Snapshot,
    breaker_states: Mapping[str, Mapping[str, Any]],
    stats: Stats,
    *,
    loaded_at: float | str | None,
    last_reload_error: Mapping[str, Any] | str | None,
    unavailable: Mapping[str, str] | None = None,
    generated_at: float | None = None,
) -> dict[str, Any]:
    """The status document (shape in the module docstring); models in display order."""
    unavailable = unavailable or {}
    models = [_model(snapshot, m, breaker_states, stats, unavailable) for m in snapshot.models]
    return {
        "schema": SCHEMA,
        "digest": snapshot.digest,
        "loaded_at": loaded_at
        if isinstance(loaded_at, str) or loaded_at is None
        else iso(loaded_at),
        "generated_at": iso(time.time() if generated_at is None else generated_at),
        "last_reload_error": _reload_error(last_reload_error),
        "window_s": stats.window_s,
        "models": models,
    }


def status_of(holder: Holder, stats: Stats) -> dict[str, Any]:
    """The status of what `holder` serves now."""
    loaded = holder.current
    if loaded is None:
        raise NotReady("no snapshot has been loaded yet")
    return build_status(
        loaded.snapshot,
        breaker_states(loaded, holder.breakers),
        stats,
        loaded_at=loaded.loaded_at,
        last_reload_error=holder.status()["last_reload_error"],
        unavailable=loaded.unavailable,
    )


def _model(
    snapshot: Snapshot,
    model: Model,
    circuits: Mapping[str, Mapping[str, Any]],
    stats: Stats,
    unavailable: Mapping[str, str],
) -> dict[str, Any]:
    channels = [_channel(c, circuits, stats, unavailable) for c in snapshot.channels_of(model)]
    serving = sum(
        c["status"] == "active" and c["unavailable"] is None and c["circuit"]["state"] != OPEN
        for c in channels
    )
    return {
        "name": model.name,
        "display_name": model.display_name,
        "type": model.type,
        "status": model.status,
        "visibility": model.visibility,
        "available_channels": serving,
        "channels": channels,
    }


def _channel(
    channel: Channel,
    circuits: Mapping[str, Mapping[str, Any]],
    stats: Stats,
    unavailable: Mapping[str, str],
) -> dict[str, Any]:
    recent = stats.view(channel.name)
    last = recent.last_error
    return {
        "name": channel.name,
        "provider": channel.provider,
        "protocol": channel.protocol,
        "upstream_model": channel.upstream_model,
        "priority": channel.priority,
        "weight": channel.weight,
        "status": channel.status,
        "unavailable": unavailable.get(channel.provider),
        "circuit": dict(circuits.get(channel.name) or CLOSED_CIRCUIT),
        "recent": {
            "requests": recent.requests,
            "failures": recent.failures,
            "success_rate": None if recent.success_rate is None else round(recent.success_rate, 4),
            "p50_ms": recent.p50_ms,
            "p99_ms": recent.p99_ms,
        },
        "series": _series(stats, channel.name),
        "last_error": None
        if last is None
        else {
            "code": last.code,
            "message": sanitize(last.message, limit=MESSAGE_CHARS),
            "at": iso(last.at),
        },
    }


def _series(stats: Stats, channel: str) -> list[dict[str, Any]] | None:
    buckets = stats.series(channel, SERIES_BUCKETS)
    if buckets is None:
        return None
    return [{"requests": b.requests, "failures": b.failures, "p50_ms": b.p50_ms} for b in buckets]


def _reload_error(error: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if isinstance(error, str):
        return {"message": sanitize(error), "at": None}
    return {**error, "message": sanitize(error.get("message"))}
