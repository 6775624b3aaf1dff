"""Review findings for changed consumers: keys, scopes, orgs, model allow-lists, status."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.review.classify_fields import (
    Context,
    _grouped,
    _level,
    _names,
    _owner_change,
    _set_change,
    _was,
)
from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding
from gateway.review.mask import short_hash
from gateway.review.plain import plain_finding
from gateway.review.quota import consumer_quota


def _consumer_field(change: EntityChange, f: FieldChange) -> Iterator[Finding]:
    name, head = change.name, f.path[0]
    if head == "key_sha256":
        added, removed = _set_change(f)
        if added:
            yield Finding(
                "security",
                "consumer",
                name,
                f"{len(added)} key(s) added",
                {"field": head, "added": [short_hash(k) for k in added]},
            )
        if removed:
            yield Finding(
                "breaking",
                "consumer",
                name,
                f"{len(removed)} key(s) removed: requests with them are refused",
                {"field": head, "removed": [short_hash(k) for k in removed]},
            )
    elif head in ("scopes", "orgs"):
        added, removed = _set_change(f)
        if added:
            yield Finding(
                "security",
                "consumer",
                name,
                f"{head} widened: + {_names(added)}",
                {"field": head, "added": added},
            )
        if removed:
            yield Finding(
                "breaking",
                "consumer",
                name,
                f"{head} narrowed: − {_names(removed)}",
                {"field": head, "removed": removed},
            )
    elif head == "models":
        yield from _allow_list(change, f)
    elif head == "max_data_destination":
        loosened = _level(f.after) > _level(f.before)
        yield Finding(
            "security" if loosened else "breaking",
            "consumer",
            name,
            f"max data destination {'loosened' if loosened else 'tightened'}: "
            f"{f.before} → {f.after}",
            _was(f),
        )
    elif head == "status":
        yield Finding(
            "breaking" if f.after == "inactive" else "security",
            "consumer",
            name,
            f"status {f.before} → {f.after}",
            _was(f),
        )
    elif head == "owner":
        yield from _owner_change(change)
    else:
        yield plain_finding(change, f)


def _allow_list(change: EntityChange, f: FieldChange) -> Iterator[Finding]:
    name = change.name
    if f.after is None:
        yield Finding(
            "security",
            "consumer",
            name,
            "models allow-list dropped: may now use every model visible to it",
            {"field": "models", "before": f.before, "after": None},
        )
        return
    if f.before is None:
        yield Finding(
            "breaking",
            "consumer",
            name,
            f"models allow-list set: limited to {_names(sorted(f.after))}",
            {"field": "models", "before": None, "after": sorted(f.after)},
        )
        return
    added, removed = _set_change(f)
    if removed:
        yield Finding(
            "breaking",
            "consumer",
            name,
            f"loses access to {_names(removed)}",
            {"field": "models", "removed": removed},
        )
    if added:
        yield Finding(
            "other",
            "consumer",
            name,
            f"may now use {_names(added)}",
            {"field": "models", "added": added},
        )


def classify_consumer(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    if change.action == "added":
        after = change.after or {}
        yield Finding(
            "security",
            "consumer",
            change.name,
            f"consumer added with {len(after.get('key_sha256', ()))} key(s), scopes "
            f"{_names(sorted(after.get('scopes', ())))}",
            {},
        )
    elif change.action == "removed":
        yield Finding(
            "breaking", "consumer", change.name, "consumer removed: its keys stop working", {}
        )
    else:
        yield from consumer_quota(change)
        for f in _grouped(change):
            if f.path[0] != "quota":
                yield from _consumer_field(change, f)
