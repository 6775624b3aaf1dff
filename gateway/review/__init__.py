"""Reviewing catalog changes: a semantic, classified diff of two compiled snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.diagnostics import Diagnostic
from gateway.review.classify import Context, classify
from gateway.review.cost import Traffic, cost_impact
from gateway.review.diff import EntityChange, FieldChange, diff_snapshots
from gateway.review.findings import CATEGORIES, JSON_VERSION, Finding, Review, Side
from gateway.review.impact import ConsumerImpact, consumer_impact
from gateway.review.impact_findings import impact_findings
from gateway.review.renames import apply_renames
from gateway.review.routing import restricted, routing_findings, touched_models

__all__ = [
    "CATEGORIES",
    "JSON_VERSION",
    "ConsumerImpact",
    "EntityChange",
    "FieldChange",
    "Finding",
    "Review",
    "Side",
    "review_snapshots",
]


def review_snapshots(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    *,
    base_label: str = "base",
    head_label: str = "head",
    warnings: Iterable[Diagnostic] = (),
    defaulted: Mapping[str, list[str]] | None = None,
    traffic: Traffic | None = None,
) -> Review:
    """Diff two snapshots (JSON form), classify every change and work out what it does to
    each consumer. `warnings` are the head's validation warnings; `defaulted` what the head's
    catalog left to defaults (see `gateway.review.sides.LoadedSide`); `traffic` real usage
    to price on both sides (see `gateway.review.cost`)."""
    changes = diff_snapshots(base, head)
    sides = Side(base_label, base.get("digest")), Side(head_label, head.get("digest"))
    cost = None
    if traffic is not None:
        cost = cost_impact(
            restricted(base, traffic.by_model), restricted(head, traffic.by_model), traffic
        )
    if not changes:
        return Review(*sides, (), (), (), tuple(warnings), cost)
    changes, renamed = apply_renames(changes, base, head)
    touched = touched_models(changes, renamed)
    # A changed consumer is checked against every model; otherwise only touched ones matter.
    every = any(c.kind == "consumer" and c.action == "changed" for c in changes)
    old = restricted(base, None if every else [*touched, *renamed.models.values()])
    new = restricted(head, None if every else touched)
    impacts = consumer_impact(old, new, touched, renamed)
    ctx = Context(base, head, dict(defaulted or {}), renamed)
    findings = (
        classify(changes, ctx)
        + routing_findings(old, new, touched, renamed)
        + impact_findings(impacts, changes)
    )
    order = {c: i for i, c in enumerate(CATEGORIES)}
    # Stable: class first, then the order the rules produced them in (kind order, then name).
    findings = sorted(findings, key=lambda f: order[f.category])
    return Review(*sides, tuple(changes), tuple(findings), tuple(impacts), tuple(warnings), cost)
