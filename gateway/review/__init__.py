"""Reviewing catalog changes: a semantic, classified diff of two compiled snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.review.classify import Context, classify
from gateway.review.diff import EntityChange, FieldChange, diff_snapshots
from gateway.review.findings import CATEGORIES, JSON_VERSION, Finding, Review, Side
from gateway.review.routing import routing_findings

__all__ = ["CATEGORIES", "JSON_VERSION", "EntityChange", "FieldChange", "Finding", "Review",
           "Side", "review_snapshots"]


def review_snapshots(base: Mapping[str, Any], head: Mapping[str, Any], *,
                     base_label: str = "base", head_label: str = "head") -> Review:
    """Diff two snapshots (JSON form) and classify every change."""
    changes = diff_snapshots(base, head)
    findings = classify(changes, Context(base, head)) + routing_findings(base, head, changes)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    # Stable: class first, then the order the rules produced them in (kind order, then name).
    findings = sorted(findings, key=lambda f: order[f.category])
    return Review(Side(base_label, base.get("digest")), Side(head_label, head.get("digest")),
                  tuple(changes), tuple(findings))
