"""Entity-level diff of two compiled snapshots: entities matched by kind and name, fields compared.

Working on compiled snapshots means a file move or a reorder of documents is no change by
construction, and defaults and prices are already resolved on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.review.mask import mask_value

#: Entity kinds in the order changes are listed.
KINDS = (
    "settings",
    "provider",
    "capability",
    "native_tool",
    "model",
    "alias",
    "channel",
    "consumer",
    "org",
)

#: Model fields that other sections report: aliases are entities of their own, and the channel
#: list is what the routing section explains.
_MODEL_DERIVED = ("aliases", "channels")

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an entity, before and after (None when absent on that side)."""

    path: Path
    before: Any
    after: Any

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class EntityChange:
    """An entity added, removed or changed; `before`/`after` are its raw snapshot values."""

    kind: str
    name: str
    action: str  # added | removed | changed
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    fields: tuple[FieldChange, ...]

    def field(self, *path: str) -> FieldChange | None:
        return next((f for f in self.fields if f.path == path), None)

    def masked_fields(self) -> list[dict[str, Any]]:
        """The field changes as plain values, secrets masked: what any output may show."""
        return [
            {
                "path": f.dotted,
                "before": mask_value(self.kind, f.path, f.before),
                "after": mask_value(self.kind, f.path, f.after),
            }
            for f in self.fields
        ]


def entities(snapshot: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Every entity of a snapshot, by kind then name."""
    settings = dict(snapshot.get("settings") or {})
    return {
        "settings": {"settings": settings} if settings else {},
        "provider": dict(snapshot.get("providers", {})),
        "capability": dict(snapshot.get("capabilities", {})),
        "native_tool": dict(snapshot.get("native_tools", {})),
        "model": {
            m["name"]: {k: v for k, v in m.items() if k not in _MODEL_DERIVED}
            for m in snapshot.get("models", ())
        },
        "alias": {a: {"model": m} for a, m in snapshot.get("aliases", {}).items()},
        "channel": dict(snapshot.get("channels", {})),
        "consumer": {c["name"]: c for c in snapshot.get("consumers", ())},
        "org": dict(snapshot.get("orgs", {})),
    }


def field_changes(before: Any, after: Any, path: Path = ()) -> Iterator[FieldChange]:
    """Leaf differences of two values: mappings are walked key by key, anything else compared."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            yield from field_changes(before.get(key), after.get(key), (*path, key))
    elif before != after:
        yield FieldChange(path, before, after)


def diff_snapshots(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[EntityChange]:
    """The entity changes from `base` to `head`, in KINDS order, then by name."""
    if base.get("digest") is not None and base.get("digest") == head.get("digest"):
        return []  # same content: the digest covers everything else
    old, new = entities(base), entities(head)
    changes: list[EntityChange] = []
    for kind in KINDS:
        before_all, after_all = old[kind], new[kind]
        for name in sorted(set(before_all) | set(after_all)):
            before, after = before_all.get(name), after_all.get(name)
            if before == after:
                continue
            action = "added" if before is None else "removed" if after is None else "changed"
            fields = tuple(field_changes(before or {}, after or {})) if action == "changed" else ()
            changes.append(EntityChange(kind, name, action, before, after, fields))
    return changes
