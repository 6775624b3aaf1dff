"""Routing findings: for each touched model, the share of traffic each channel gets first and
the failover order, before and after, as the proxy's route planner computes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Snapshot, digest_of
from gateway.proxy.plan import plan_route
from gateway.review.diff import EntityChange
from gateway.review.findings import Finding

RouteView = dict[str, Any]


def touched_models(changes: list[EntityChange]) -> list[str]:
    """Models whose own entry or any of whose channels (on either side) changed."""
    names: set[str] = set()
    for change in changes:
        if change.kind == "model":
            names.add(change.name)
        elif change.kind == "channel":
            names.update(side["model"] for side in (change.before, change.after) if side)
    return sorted(names)


def restricted(snapshot: Mapping[str, Any], models: set[str]) -> Snapshot:
    """The snapshot cut down to `models`, their channels and providers: what planning their
    routes reads, built without converting thousands of untouched models."""
    kept = [m for m in snapshot.get("models", ()) if m["name"] in models]
    channels = {c: snapshot["channels"][c] for m in kept for c in m.get("channels", ())}
    providers = snapshot.get("providers", {})
    body = {"schema_version": snapshot["schema_version"],
            "settings": snapshot.get("settings", {}),
            "providers": {p: providers[p] for p in sorted({c["provider"] for c in
                                                           channels.values()}) if p in providers},
            "models": kept, "channels": channels, "aliases": {}, "consumers": []}
    return Snapshot.from_dict({**body, "digest": digest_of(body)})


def _share(probability: float) -> float:
    return round(probability * 100, 2)


def route_view(snapshot: Snapshot, model: str) -> RouteView | None:
    """First-choice shares (percent), failover order and excluded channels of `model` for an
    anonymous public request with every channel healthy; None if the model does not exist."""
    found = snapshot.models_by_name.get(model)
    if found is None:
        return None
    plan = plan_route(snapshot, found, None, max_destination=None)
    shares = {name: _share(p) for name, p in plan.first_choice_probabilities().items()}
    return {"shares": shares, "failover": [c.name for c in plan.failover_order()],
            "excluded": {c.name: reason for c, reason in plan.excluded}}


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


def routing_findings(base: Mapping[str, Any], head: Mapping[str, Any],
                     changes: list[EntityChange]) -> list[Finding]:
    """Routing findings of the touched models, and a breaking one for a model left with no
    channel that can serve it."""
    models = touched_models(changes)
    if not models:
        return []
    old, new = restricted(base, set(models)), restricted(head, set(models))
    findings: list[Finding] = []
    for model in models:
        before, after = route_view(old, model), route_view(new, model)
        if after is None or before == after:
            continue  # a removed model is reported as breaking by the model rules
        findings.append(Finding("routing", "model", model, _message(before, after),
                                {"model": model, "before": before, "after": after}))
        active = new.models_by_name[model].status == "active"
        if before and before["failover"] and not after["failover"] and active:
            findings.append(Finding(
                "breaking", "model", model,
                "no channel left to serve it: every request will fail",
                {"excluded": after["excluded"]}))
    return findings
