"""A field change shown as it is: values masked, prompts and descriptions as a text diff."""

from __future__ import annotations

from typing import Any

from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding
from gateway.review.mask import mask_value
from gateway.review.text import text_diff

_PROMPTS = {"system_prompt", "description"}


def _shown(kind: str, change: FieldChange, value: Any) -> str:
    shown = mask_value(kind, change.path, value)
    return "—" if shown is None else f"`{shown}`"


def plain_finding(change: EntityChange, f: FieldChange) -> Finding:
    """A plain field change; prompts and descriptions carry a text diff instead of values."""
    if f.path[-1] in _PROMPTS and (isinstance(f.before, str) or isinstance(f.after, str)):
        return Finding(
            "other",
            change.kind,
            change.name,
            f"{f.dotted} changed",
            {"field": f.dotted, "text_diff": text_diff(f.before, f.after)},
        )
    before, after = _shown(change.kind, f, f.before), _shown(change.kind, f, f.after)
    return Finding(
        "other",
        change.kind,
        change.name,
        f"{f.dotted}: {before} → {after}",
        {
            "field": f.dotted,
            "before": mask_value(change.kind, f.path, f.before),
            "after": mask_value(change.kind, f.path, f.after),
        },
    )
