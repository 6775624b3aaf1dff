"""What the site may show of a snapshot: the listed models and their channels, with shares,
prices and who may use them; never a secret, a key digest, a base URL or a system prompt."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.catalog.snapshot import Channel, Model, Snapshot
from gateway.proxy.plan import plan_route
from gateway.proxy.resolve import usable
from gateway.site.prices import SCALES, ScaledPrice, scaled

#: Visibilities the site shows unless asked for more.
LISTED = frozenset({"public", "protected"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class ChannelView:
    channel: Channel
    group: str  # the priority class, or "private" for a channel that serves only its owner
    share: float | None  # first-choice share of traffic (0..1); None when not a candidate
    excluded: str | None  # why a channel is never tried for anyone (inactive)
    price: ScaledPrice | None


@dataclass(frozen=True, slots=True)
class ModelView:
    model: Model
    slug: str  # file name of its page, without .html
    channels: tuple[ChannelView, ...]
    protocols: tuple[str, ...]
    destinations: tuple[str, ...]
    consumers: tuple[str, ...]  # active consumers that may call it
    audience: str  # who may use it, in words
    price: ScaledPrice | None  # share-weighted price of the first-choice channels

    @property
    def headline_price(self) -> Decimal | None:
        return None if self.price is None else self.price.headline()


@dataclass(frozen=True, slots=True)
class SiteView:
    snapshot: Snapshot
    models: tuple[ModelView, ...]  # display order
    capabilities: tuple[str, ...]
    native_tools: tuple[str, ...]


def slug(name: str) -> str:
    """A file name for `name` that is safe everywhere and unique per name."""
    safe = _UNSAFE.sub("_", name)
    if safe == name and not name.startswith("."):
        return name
    return f"{safe.lstrip('.') or 'model'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def site_view(
    snapshot: Snapshot, *, include_internal: bool = False, include_private: bool = False
) -> SiteView:
    """The models to publish, in display order, with everything their pages show."""
    shown = set(LISTED)
    if include_internal:
        shown.add("internal")
    if include_private:
        shown.add("private")
    models = tuple(
        _model_view(snapshot, m, include_private) for m in snapshot.models if m.visibility in shown
    )
    capabilities = sorted(
        {c for v in models for c in v.model.capabilities} | set(snapshot.capabilities)
    )
    tools = sorted({t for v in models for t in v.model.native_tools} | set(snapshot.native_tools))
    return SiteView(snapshot, models, tuple(capabilities), tuple(tools))


def _model_view(snapshot: Snapshot, model: Model, include_private: bool) -> ModelView:
    plan = plan_route(snapshot, model, None, max_destination=None)
    shares = plan.first_choice_probabilities()
    views = []
    for channel in snapshot.channels_of(model):
        if channel.owner is not None and not include_private:
            continue  # a private channel serves only its owner: not part of the public page
        group = "private" if channel.owner is not None else channel.priority
        views.append(
            ChannelView(
                channel,
                group,
                shares.get(channel.name),
                "inactive" if channel.status != "active" else None,
                scaled(channel.price),
            )
        )
    consumers = tuple(
        c.name for c in snapshot.consumers if c.status == "active" and usable(model, c)
    )
    return ModelView(
        model=model,
        slug=slug(model.name),
        channels=tuple(views),
        protocols=tuple(sorted({v.channel.protocol for v in views})),
        destinations=tuple(sorted({v.channel.data_destination for v in views})),
        consumers=consumers,
        audience=audience(model),
        price=expected_price(views),
    )


def audience(model: Model) -> str:
    """Who may use `model`, from its visibility and owner (consumer allow-lists aside)."""
    if model.status != "active":
        return "nobody: the model is inactive"
    owner = f"{model.owner.type} {model.owner.code}"
    return {
        "public": "every consumer",
        "protected": f"members of {owner}",
        "internal": "consumers with the internal scope (never listed)",
        "private": f"only its owner, {owner}",
    }.get(model.visibility, model.visibility)


def expected_price(channels: Sequence[ChannelView]) -> ScaledPrice | None:
    """What a request pays on average: first-choice channels' prices weighted by share.

    None when a first-choice channel is unpriced or the prices mix scales or currencies.
    Images: one line, the share-weighted cheapest image of each channel.
    """
    chosen: list[tuple[Decimal, ScaledPrice]] = []
    for view in channels:
        if view.share:
            if view.price is None:
                return None
            chosen.append((Decimal(str(view.share)), view.price))
    if not chosen:
        return None
    first = chosen[0][1]
    if any(p.scale != first.scale or p.currency != first.currency for _, p in chosen):
        return None
    if len(chosen) == 1:
        return first
    names = set.intersection(*(set(p.amounts) for _, p in chosen))
    amounts = {n: sum((s * p.amounts[n] for s, p in chosen), Decimal(0)) for n in sorted(names)}
    images: tuple[tuple[str, str, Decimal], ...] = ()
    if all(p.images for _, p in chosen):
        cheapest = sum((s * min(q for *_, q in p.images) for s, p in chosen), Decimal(0))
        images = (("any size", "cheapest", cheapest),)
    return ScaledPrice(first.currency, first.scale, amounts, images)


def scale_index(view: ModelView) -> int:
    """Sort position of the model's price scale (unpriced models last)."""
    return len(SCALES) if view.price is None else SCALES.index(view.price.scale)


def properties_rows(properties: Mapping[str, object]) -> list[tuple[str, str]]:
    """The model's properties as (label, text) rows, lists and maps joined for reading."""
    rows = []
    for key, value in properties.items():
        if isinstance(value, Mapping):
            text = ", ".join(k if k == v else f"{k} ({v})" for k, v in value.items())
        elif isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = str(value)
        rows.append((key.replace("_", " "), text))
    return rows
