"""Shared pieces of the review rules: the snapshots' context and field-change helpers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog.snapshot import DATA_DESTINATIONS
from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding
from gateway.review.renames import Renames


@dataclass(frozen=True, slots=True)
class Context:
    """Both snapshots, for rules that must look beyond the changed entity."""

    base: Mapping[str, Any]
    head: Mapping[str, Any]
    defaulted: Mapping[str, list[str]] = field(default_factory=dict)
    renames: Renames = field(default_factory=Renames)


def _was(f: FieldChange) -> dict[str, Any]:
    """The detail of a plain before/after field change (not for secret fields)."""
    return {"field": f.dotted, "before": f.before, "after": f.after}


def _set_change(change: FieldChange) -> tuple[list[str], list[str]]:
    before, after = set(change.before or ()), set(change.after or ())
    return sorted(after - before), sorted(before - after)


def _names(values: list[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _level(value: str | None) -> int:
    return DATA_DESTINATIONS.get(value or "", 0)


def _destination(change: EntityChange, f: FieldChange, field_name: str) -> Finding:
    """Data destination: loosening is a security finding, tightening an ordinary one."""
    loosened = _level(f.after) > _level(f.before)
    category = "security" if loosened else "other"
    word = "loosened" if loosened else "tightened"
    return Finding(
        category, change.kind, change.name, f"{field_name} {word}: {f.before} → {f.after}", _was(f)
    )


def _owner(owner: Mapping[str, str] | None) -> str:
    return "none" if not owner else f"{owner['type']}:{owner['code']}"


def _owner_change(change: EntityChange) -> Iterator[Finding]:
    """Owner fields are compared as a whole, so owner.type and owner.code make one finding."""
    before = (change.before or {}).get("owner")
    after = (change.after or {}).get("owner")
    yield Finding(
        "security",
        change.kind,
        change.name,
        f"owner changed: {_owner(before)} → {_owner(after)}",
        {"field": "owner", "before": before, "after": after},
    )


def _grouped(change: EntityChange) -> list[FieldChange]:
    """Field changes with owner.* folded into one `owner` change (it is one value to users)."""
    out = [f for f in change.fields if f.path[0] != "owner"]
    if any(f.path[0] == "owner" for f in change.fields):
        out.append(
            FieldChange(
                ("owner",), (change.before or {}).get("owner"), (change.after or {}).get("owner")
            )
        )
    return out
