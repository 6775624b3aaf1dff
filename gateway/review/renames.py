"""Recognising renames: a removed and an added model that are the same model under a new name.

A model is renamed when its old name survives as an alias of the new one, or when the channels
of both pair up by (provider, upstream model). The pair becomes one `renamed` change holding
only the real field changes, and their channels pair up the same way, so unchanged prices and
routes are not reported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.review.diff import EntityChange, field_changes

#: Fields that a rename changes by construction: not reported as changes of their own.
_NAMES = ("name", "model")


@dataclass(frozen=True, slots=True)
class Renames:
    """New name -> old name, for models and for their channels."""

    models: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)

    def old_model(self, name: str) -> str:
        return self.models.get(name, name)

    def new_channel(self, old: str) -> str:
        return next((n for n, o in self.channels.items() if o == old), old)


Pairs = dict[str, dict[tuple[str, str], str]]


def _pairs(snapshot: Mapping[str, Any], models: set[str]) -> Pairs:
    """model -> (provider, upstream model) -> channel name, for the channels of `models`."""
    out: Pairs = {m: {} for m in models}
    for name, c in snapshot.get("channels", {}).items():
        if c["model"] in out:
            out[c["model"]][(c["provider"], c["upstream_model"])] = name
    return out


def _match(
    removed: EntityChange,
    added: list[EntityChange],
    head: Mapping[str, Any],
    old_pairs: Pairs,
    new_pairs: Pairs,
) -> EntityChange | None:
    aliases = head.get("aliases", {})
    for candidate in added:
        if aliases.get(removed.name) == candidate.name:
            return candidate
    mine = old_pairs[removed.name]
    for candidate in added:
        if (
            mine
            and new_pairs[candidate.name].keys() == mine.keys()
            and (removed.before or {}).get("type") == (candidate.after or {}).get("type")
        ):
            return candidate
    return None


def _renamed(
    kind: str, name: str, before: Mapping[str, Any], after: Mapping[str, Any]
) -> EntityChange:
    strip = {k: v for k, v in before.items() if k not in _NAMES}
    fields = tuple(field_changes(strip, {k: v for k, v in after.items() if k not in _NAMES}))
    return EntityChange(kind, name, "renamed", before, after, fields)


def apply_renames(
    changes: list[EntityChange], base: Mapping[str, Any], head: Mapping[str, Any]
) -> tuple[list[EntityChange], Renames]:
    """`changes` with each recognised rename folded into `renamed` changes, and the renames."""
    by_key = {(c.kind, c.name): c for c in changes}
    added = [c for c in changes if c.kind == "model" and c.action == "added"]
    gone = [c for c in changes if c.kind == "model" and c.action == "removed"]
    if not added or not gone:
        return changes, Renames()
    old_pairs = _pairs(base, {c.name for c in gone})
    new_pairs = _pairs(head, {c.name for c in added})
    models: dict[str, str] = {}
    channels: dict[str, str] = {}
    replaced: dict[tuple[str, str], EntityChange | None] = {}
    for removed in gone:
        match = _match(
            removed, [a for a in added if a.name not in models], head, old_pairs, new_pairs
        )
        if match is None:
            continue
        models[match.name] = removed.name
        replaced[("model", removed.name)] = None
        replaced[("model", match.name)] = _renamed(
            "model", match.name, removed.before or {}, match.after or {}
        )
        for pair, old_channel in old_pairs[removed.name].items():
            new_channel = new_pairs[match.name].get(pair)
            old_change, new_change = (
                by_key.get(("channel", old_channel)),
                by_key.get(("channel", new_channel or "")),
            )
            if new_channel is None or old_change is None or new_change is None:
                continue
            channels[new_channel] = old_channel
            replaced[("channel", old_channel)] = None
            replaced[("channel", new_channel)] = _renamed(
                "channel", new_channel, old_change.before or {}, new_change.after or {}
            )
        _fold_aliases(changes, removed.name, match.name, replaced)
    if not models:
        return changes, Renames()
    out = []
    for change in changes:
        key = (change.kind, change.name)
        if key not in replaced:
            out.append(change)
        elif replaced[key] is not None:
            out.append(replaced[key])  # type: ignore[arg-type]
    return out, Renames(models, channels)


def _fold_aliases(
    changes: list[EntityChange],
    old: str,
    new: str,
    replaced: dict[tuple[str, str], EntityChange | None],
) -> None:
    """The old name kept as an alias, and aliases that followed the model: part of the rename."""
    for change in changes:
        if change.kind != "alias":
            continue
        before = (change.before or {}).get("model")
        after = (change.after or {}).get("model")
        if (change.name == old and before is None and after == new) or (
            before == old and after == new
        ):
            replaced[("alias", change.name)] = None
