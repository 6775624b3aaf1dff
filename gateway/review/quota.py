"""Quota changes in a review: each limit of a consumer or an org, old → new (class `quota`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _limit_changes(fields: list[FieldChange], prefix: tuple[str, ...]) -> Iterator[str]:
    for f in fields:
        if f.path[: len(prefix)] != prefix:
            continue
        where = ".".join(map(str, f.path[len(prefix) :])) or "quota"
        if isinstance(f.before, Mapping) or isinstance(f.after, Mapping):
            before, after = dict(f.before or {}), dict(f.after or {})
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    yield f"{where}.{key}: {_shown(before.get(key))} → {_shown(after.get(key))}"
        else:
            yield f"{where}: {_shown(f.before)} → {_shown(f.after)}"


def consumer_quota(change: EntityChange) -> Iterator[Finding]:
    """The quota limits of a changed consumer, one finding per limit."""
    for line in _limit_changes(list(change.fields), ("quota",)):
        yield Finding("quota", "consumer", change.name, f"quota.{line}", {"field": "quota"})


def classify_org(change: EntityChange, ctx: object = None) -> Iterator[Finding]:
    """An Org document carries quotas only: every change of it is a quota change."""
    if change.action in ("added", "removed"):
        quota = (change.after if change.action == "added" else change.before) or {}
        limits = quota.get("quota", quota)
        verb = "quota set" if change.action == "added" else "quota removed"
        yield Finding(
            "quota",
            "org",
            change.name,
            f"{verb}: "
            + ", ".join(f"{k} {_shown(v)}" for k, v in sorted(limits.items()) if k != "name")
            or verb,
            {},
        )
        return
    for line in _limit_changes(list(change.fields), ()):
        yield Finding("quota", "org", change.name, line, {})
