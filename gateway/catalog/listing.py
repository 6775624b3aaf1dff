"""The admin console's model list: every model of a snapshot in display order, searched and filtered."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gateway.catalog.protocols import ALSO_SERVED_BY
from gateway.catalog.snapshot import Model, Snapshot


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One line of the model list."""

    name: str
    display_name: str
    type: str
    status: str
    vendor: str | None
    visibility: str
    active_channels: int
    channels: int
    aliases: tuple[str, ...]
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True, slots=True)
class ModelQuery:
    """What to show: `search` is a case-insensitive substring of name, display name, aliases,
    vendor, description or tags; `tag` one of the model's tags exactly; every other field, when set, must match exactly (vendor ignoring
    case; protocol: the model has a channel on a provider of that protocol; type: models of
    another type that serve it too, such as image generation models with image_edit for
    image-edit)."""

    search: str | None = None
    status: str | None = None
    protocol: str | None = None
    vendor: str | None = None
    type: str | None = None
    visibility: str | None = None
    tag: str | None = None


def list_models(snapshot: Snapshot, query: ModelQuery | None = None) -> list[ModelRow]:
    """The rows the query selects, in display order (order, then name), internal models too."""
    query = query or ModelQuery()
    return [_row(snapshot, m) for m in snapshot.models if _matches(snapshot, m, query)]


def _matches(snapshot: Snapshot, model: Model, q: ModelQuery) -> bool:
    if q.status and model.status != q.status:
        return False
    if q.type and model.type != q.type and not _also_serves(model, q.type):
        return False
    if q.visibility and model.visibility != q.visibility:
        return False
    if q.vendor and (model.vendor or "").casefold() != q.vendor.casefold():
        return False
    if q.protocol and all(c.protocol != q.protocol for c in snapshot.channels_of(model)):
        return False
    if q.tag and q.tag not in model.tags:
        return False
    if q.search:
        needle = q.search.casefold()
        haystack = (
            model.name,
            model.display_name,
            model.vendor or "",
            model.description or "",
            *model.aliases,
            *model.tags,
        )
        return any(needle in text.casefold() for text in haystack)
    return True


def _also_serves(model: Model, wanted: str) -> bool:
    """An image generation model with image_edit is listed among the image-edit models."""
    also = ALSO_SERVED_BY.get(wanted)
    return also is not None and model.type == also[0] and also[1] in model.capabilities


def _row(snapshot: Snapshot, model: Model) -> ModelRow:
    channels = snapshot.channels_of(model)
    return ModelRow(
        name=model.name,
        display_name=model.display_name,
        type=model.type,
        status=model.status,
        vendor=model.vendor,
        visibility=model.visibility,
        active_channels=sum(c.status == "active" for c in channels),
        channels=len(channels),
        aliases=model.aliases,
        tags=model.tags,
    )
