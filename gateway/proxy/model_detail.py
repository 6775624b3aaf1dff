"""One model in full, for `modelyard models show NAME`: what the console's detail page shows.

Properties, capabilities, native tools, and every channel with its price and its share of
first attempts (no consumer: the public route), joined, when a proxy's `/admin/status`
document is given, with each channel's live circuit state and recent success rate.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Model, Snapshot
from gateway.proxy.model_info import pricing
from gateway.proxy.plan import plan_route


def closest_names(snapshot: Snapshot, name: str, count: int = 3) -> list[str]:
    """Model names and aliases closest to a misspelt `name`, best first."""
    known = [*snapshot.models_by_name, *snapshot.aliases]
    return difflib.get_close_matches(name, known, n=count, cutoff=0.5)


def model_detail(
    snapshot: Snapshot, model: Model, status: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The model, its channels in static routing order, and (with `status`) their health."""
    plan = plan_route(snapshot, model, None, max_destination=None)
    shares = plan.first_choice_probabilities()
    groups = {c.name: g for g, members in plan.groups for c, _ in members}
    live = _live_channels(status, model.name)
    channels = []
    for channel in snapshot.channels_of(model):
        row: dict[str, Any] = {
            "name": channel.name,
            "provider": channel.provider,
            "protocol": channel.protocol,
            "upstream_model": channel.upstream_model,
            "priority": channel.priority,
            "weight": channel.weight,
            "status": channel.status,
            "data_destination": channel.data_destination,
            "owner": None if channel.owner is None else channel.owner.code,
            "price": pricing(channel.price),
            "group": groups.get(channel.name),
            "route_share": round(shares.get(channel.name, 0.0), 6),
        }
        if status is not None:
            health = live.get(channel.name) or {}
            row["circuit"] = (health.get("circuit") or {}).get("state")
            row["success_rate"] = (health.get("recent") or {}).get("success_rate")
            row["requests"] = (health.get("recent") or {}).get("requests")
        channels.append(row)
    owner = {
        "type": model.owner.type,
        "code": model.owner.code,
        "name": model.owner.name or model.owner.code,
    }
    return {
        "name": model.name,
        "display_name": model.display_name,
        "type": model.type,
        "status": model.status,
        "visibility": model.visibility,
        "vendor": model.vendor,
        "description": model.description,
        "owner": owner,
        "aliases": list(model.aliases),
        "tags": list(model.tags),
        "properties": dict(model.properties),
        "capabilities": sorted(model.capabilities),
        "native_tools": sorted(model.native_tools),
        "channels": channels,
    }


def _live_channels(status: Mapping[str, Any] | None, model: str) -> dict[str, Any]:
    for entry in (status or {}).get("models") or ():
        if entry.get("name") == model:
            return {c.get("name"): c for c in entry.get("channels") or ()}
    return {}


def circuits(status: Mapping[str, Any]) -> dict[str, str]:
    """Per model, its circuit summary for the list: `closed`, `open` (every active channel
    open), or `partly open (k/n)`."""
    out: dict[str, str] = {}
    for entry in status.get("models") or ():
        states = [
            (c.get("circuit") or {}).get("state")
            for c in entry.get("channels") or ()
            if c.get("status") == "active"
        ]
        opened = sum(s == "open" for s in states)
        out[entry.get("name")] = (
            "closed"
            if not opened
            else "open"
            if opened == len(states)
            else f"partly open ({opened}/{len(states)})"
        )
    return out
