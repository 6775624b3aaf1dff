"""Routing findings: for each touched model, the share of traffic each channel gets first and
the failover order, before and after, as the proxy's route planner computes them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.catalog.snapshot import Snapshot
from gateway.proxy.plan import plan_route
from gateway.review.diff import EntityChange
from gateway.review.findings import Finding
from gateway.review.impact import is_real
from gateway.review.renames import Renames

RouteView = dict[str, Any]


#: Fields that never change who may call a model or where its requests go (a price matters
#: only when it turns zero or stops being zero: see `_routing_change`).
_COSMETIC = {
    "description",
    "display_name",
    "vendor",
    "docs_url",
    "order",
    "tags",
    "properties",
    "capabilities",
    "native_tools",
    "system_prompt",
    "options",
    "upstream_model",
    "price",
    "price_source",
    "type",
}


def _free(side: Mapping[str, Any] | None) -> bool:
    price = (side or {}).get("price")
    return price is not None and not any(
        v not in ("0", 0) for k, v in price.items() if k not in ("currency", "unit", "images")
    )


def _routing_change(change: EntityChange) -> bool:
    if change.action != "changed":
        return True
    if any(f.path[0] not in _COSMETIC for f in change.fields):
        return True
    return change.kind == "channel" and _free(change.before) != _free(change.after)


def touched_models(changes: list[EntityChange], renames: Renames | None = None) -> list[str]:
    """Models whose access or routes may differ: their entry (beyond cosmetic fields), a
    channel's routing (on either side) or an alias changed; a renamed model under its new
    name. A price change alone touches nothing here: the pricing section tells it."""
    names: set[str] = set()
    for change in changes:
        if not _routing_change(change):
            continue
        if change.kind == "model":
            names.add(change.name)
        elif change.kind in ("channel", "alias"):
            names.update(side["model"] for side in (change.before, change.after) if side)
    if renames is not None:
        names.difference_update(renames.models.values())
    return sorted(names)


def restricted(snapshot: Mapping[str, Any], models: Iterable[str] | None) -> Snapshot:
    """The snapshot cut down to `models` (None: all), their channels and providers, with every
    consumer and alias: what planning their routes and checking access read, built without
    converting thousands of untouched models (the sides were verified when loaded)."""
    if models is None:
        return Snapshot.from_compiled(snapshot)
    wanted = set(models)
    kept = [m for m in snapshot.get("models", ()) if m["name"] in wanted]
    channels = {c: snapshot["channels"][c] for m in kept for c in m.get("channels", ())}
    return Snapshot.from_compiled({**snapshot, "models": kept, "channels": channels})


def _share(probability: float) -> float:
    return round(probability * 100, 2)


def route_view(
    snapshot: Snapshot, model: str, renamed: Callable[[str], str] = str
) -> RouteView | None:
    """First-choice shares (percent), failover order and excluded channels of `model` for an
    anonymous public request with every channel healthy; None if the model does not exist.
    `renamed` gives a channel's name on the other side, so a renamed channel compares."""
    found = snapshot.models_by_name.get(model)
    if found is None:
        return None
    plan = plan_route(snapshot, found, None, max_destination=None)
    shares = {renamed(name): _share(p) for name, p in plan.first_choice_probabilities().items()}
    return {
        "shares": shares,
        "failover": [renamed(c.name) for c in plan.failover_order()],
        "excluded": {renamed(c.name): reason for c, reason in plan.excluded},
    }


def format_share(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}%"


def _message(before: RouteView | None, after: RouteView | None) -> str:
    if before is None:
        return "new model: " + _summary(after)
    return f"{_summary(before)} ⇒ {_summary(after)}"


def _summary(view: RouteView | None) -> str:
    if not view or not view["failover"]:
        return "no channel"
    firsts = [f"{c} {format_share(s)}" for c, s in view["shares"].items() if s > 0]
    return ", ".join(firsts)


def _real(snapshot: Snapshot, view: RouteView | None, renames: Renames | None = None) -> bool:
    """Whether a route reaches a real upstream: a channel neither mock nor priced at 0."""
    old = renames.channels if renames else {}
    return any(
        is_real(snapshot.channels[old.get(name, name)]) for name in (view or {}).get("failover", ())
    )


def routing_findings(
    old: Snapshot, new: Snapshot, models: list[str], renames: Renames | None = None
) -> list[Finding]:
    """Routing findings of the touched `models`, and a breaking one for a model left with no
    channel that can serve it, or with only mock or zero-priced ones."""
    renames = renames or Renames()
    findings: list[Finding] = []
    for model in models:
        before = route_view(old, renames.old_model(model), renames.new_channel)
        after = route_view(new, model)
        if after is None or before == after:
            continue  # a removed model is reported as breaking by the model rules
        findings.append(
            Finding(
                "routing",
                "model",
                model,
                _message(before, after),
                {"model": model, "before": before, "after": after},
            )
        )
        if not (before and before["failover"]) or new.models_by_name[model].status != "active":
            continue
        if not after["failover"]:
            findings.append(
                Finding(
                    "breaking",
                    "model",
                    model,
                    "no channel left to serve it: every request will fail",
                    {"excluded": after["excluded"]},
                )
            )
        elif _real(old, before, renames) and not _real(new, after):
            findings.append(
                Finding(
                    "breaking",
                    "model",
                    model,
                    "no real channel left: only mock or zero-priced channels serve it, every "
                    "request gets a canned answer at price 0",
                    {"failover": after["failover"], "excluded": after["excluded"]},
                )
            )
    return findings
