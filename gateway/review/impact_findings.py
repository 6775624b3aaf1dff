"""Findings from per-consumer impact: who loses a model, who is left with canned answers, who
gains access; each names the consumers, grouped by model and reason."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.review.diff import EntityChange
from gateway.review.findings import Finding
from gateway.review.impact import ConsumerImpact

_WORDS = {"lost": "lost by", "degraded": "degraded for", "gained": "now usable by"}


def _names(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def impact_findings(
    impacts: Iterable[ConsumerImpact], changes: Iterable[EntityChange]
) -> list[Finding]:
    """Breaking findings for models lost or degraded by consumers (whatever changed), and a
    security finding for models newly usable by consumers whose own entry did not change
    (a changed consumer's wider access is told by the consumer rules)."""
    changed = {c.name for c in changes if c.kind == "consumer"}
    groups: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}
    for impact in impacts:
        for model in impact.models:
            verdict = model.verdict
            if verdict in ("lost", "degraded") or (
                verdict == "gained" and impact.consumer not in changed
            ):
                reason = "" if verdict == "gained" else model.reason
                key = (model.name, verdict, reason, model.aliases if verdict == "lost" else ())
                groups.setdefault(key, []).append(impact.consumer)
    findings = []
    for (name, verdict, reason, aliases), consumers in groups.items():
        who = f"consumer{'s' if len(consumers) > 1 else ''} {_names(consumers)}"
        message = f"{_WORDS[verdict]} {who}"
        if aliases:
            message += f" (with alias{'es' if len(aliases) > 1 else ''} {_names(aliases)})"
        if reason:
            message += f": {reason}"
        category = "security" if verdict == "gained" else "breaking"
        findings.append(
            Finding(
                category,
                "model",
                name,
                message,
                {
                    "impact": verdict,
                    "consumers": consumers,
                    "aliases": list(aliases),
                    "reason": reason or None,
                },
            )
        )
    return findings
