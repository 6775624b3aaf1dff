"""Per-consumer impact: what each consumer can call, and where its traffic goes, before and after.

Both sides are read through the proxy's own rules, `gateway.proxy.resolve.usable` and the route
planner `gateway.proxy.plan.plan_route`, so the review and the proxy cannot disagree about who
may call a model or which channels serve it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import Channel, Consumer, Model, Snapshot
from gateway.proxy.plan import plan_route
from gateway.proxy.resolve import usable
from gateway.review.pricing import amounts, unit_label
from gateway.review.renames import Renames


@dataclass(frozen=True, slots=True)
class Route:
    """One channel a consumer's requests for a model may reach, with its first-choice share."""

    channel: str
    share: float  # percent of first tries, every channel healthy
    data_destination: str
    price: str  # "input 2.50, output 10.00 USD per_million_tokens", "free", "unpriced"
    real: bool  # a real upstream that bills: neither the mock nor priced at zero

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "share": self.share,
            "data_destination": self.data_destination,
            "price": self.price,
            "real": self.real,
        }


@dataclass(frozen=True, slots=True)
class Access:
    """How a consumer reaches a model on one side; `routes` empty: usable but no channel."""

    model: str
    routes: tuple[Route, ...]
    excluded: tuple[tuple[str, str], ...]  # (channel, reason)

    @property
    def real(self) -> bool:
        return any(r.real for r in self.routes)


@dataclass(frozen=True, slots=True)
class ModelImpact:
    """One model as one consumer sees it before and after; None: not usable on that side."""

    name: str
    before: Access | None
    after: Access | None
    aliases: tuple[str, ...]  # names of the model the consumer loses with it

    @property
    def verdict(self) -> str:
        """gained, lost, degraded (only mock or zero-priced left), restored, rerouted (shares
        or destinations changed)."""
        if self.before is None:
            return "gained"
        if self.after is None or not self.after.routes:
            return "lost"
        if self.before.real and not self.after.real:
            return "degraded"
        if not self.before.real and self.after.real:
            return "restored"
        return "rerouted"

    @property
    def reason(self) -> str:
        """Why a lost or degraded model is so, in a few words."""
        if self.after is None:
            return "no longer usable by it"
        if not self.after.routes:
            reasons = sorted({r.split(" (")[0] for _, r in self.after.excluded})
            return "no channel can serve it" + (f" ({', '.join(reasons)})" if reasons else "")
        return "only mock or zero-priced channels left: canned answers at price 0"

    def to_json(self) -> dict[str, Any]:
        def side(access: Access | None) -> list[dict[str, Any]] | None:
            return None if access is None else [r.to_json() for r in access.routes]

        return {
            "model": self.name,
            "verdict": self.verdict,
            "aliases": list(self.aliases),
            "before": side(self.before),
            "after": side(self.after),
        }


@dataclass(frozen=True, slots=True)
class ConsumerImpact:
    consumer: str
    max_data_destination: str
    models: tuple[ModelImpact, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "max_data_destination": self.max_data_destination,
            "models": [m.to_json() for m in self.models],
        }


def _price(channel: Channel) -> tuple[str, bool]:
    if channel.price is None:
        return "unpriced", True
    flat = amounts(
        {
            "currency": channel.price.currency,
            "unit": channel.price.unit,
            **{k: str(v) for k, v in channel.price.amounts.items()},
            "images": {
                s: {q: str(p) for q, p in qs.items()} for s, qs in channel.price.images.items()
            },
        }
    )
    if all(float(v) == 0 for v in flat.values()):
        return "free", False
    text = ", ".join(f"{k} {v}" for k, v in flat.items())
    return f"{text} {channel.price.currency} {unit_label(channel.price.unit)}", True


def is_real(channel: Channel) -> bool:
    """A channel that reaches a real upstream and bills: neither the mock nor priced at 0."""
    return channel.protocol != "mock" and _price(channel)[1]


class _Reader:
    """Access of (model, consumer) pairs on one side, plans shared between consumers that the
    planner cannot tell apart (same destination limit; same owner and orgs when the model has
    owned channels)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._plans: dict[tuple[Any, ...], Access] = {}
        self._owned: dict[str, bool] = {}

    def access(self, model: Model, consumer: Consumer) -> Access | None:
        if not usable(model, consumer):
            return None
        owned = self._owned.get(model.name)
        if owned is None:
            owned = self._owned[model.name] = any(
                self.snapshot.channels[c].owner is not None for c in model.channels
            )
        key: tuple[Any, ...] = (model.name, consumer.destination_level)
        if owned:
            key += (consumer.owner, consumer.orgs)
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = self._plan(model, consumer)
        return found

    def _plan(self, model: Model, consumer: Consumer) -> Access:
        plan = plan_route(self.snapshot, model, consumer, max_destination=None)
        shares = plan.first_choice_probabilities()
        routes = []
        for channel in plan.failover_order():
            price, priced = _price(channel)
            routes.append(
                Route(
                    channel.name,
                    round(shares[channel.name] * 100, 2),
                    channel.data_destination,
                    price,
                    priced and channel.protocol != "mock",
                )
            )  # is_real, priced once
        return Access(
            model.name, tuple(routes), tuple((c.name, reason) for c, reason in plan.excluded)
        )


def _aliases(snapshot: Snapshot, model: str) -> tuple[str, ...]:
    found = snapshot.models_by_name.get(model)
    return found.aliases if found else ()


def consumer_impact(
    old: Snapshot, new: Snapshot, touched: Iterable[str], renames: Renames | None = None
) -> list[ConsumerImpact]:
    """For every consumer active on both sides, the models whose access or routes changed.

    Only `touched` models (entry, channels or aliases changed) are planned for consumers that
    did not change; a consumer that changed is checked against every model.
    """
    before_readers, after_readers = _Reader(old), _Reader(new)
    renames = renames or Renames()
    touched = set(touched)
    heads = {c.name: c for c in new.consumers if c.status == "active"}
    result = []
    for consumer in old.consumers:
        head = heads.get(consumer.name)
        if consumer.status != "active" or head is None:
            continue  # added, removed, (re)activated consumers are told by the consumer rules
        names = _all_models(old, new) if head != consumer else sorted(touched)
        models = []
        for name in names:
            if name in renames.models.values():
                continue  # told under its new name
            impact = _model_impact(
                name, consumer, head, old, new, before_readers, after_readers, renames
            )
            if impact is not None:
                models.append(impact)
        if models:
            result.append(ConsumerImpact(consumer.name, head.max_data_destination, tuple(models)))
    return result


def _all_models(old: Snapshot, new: Snapshot) -> list[str]:
    return sorted(set(old.models_by_name) | set(new.models_by_name))


def _model_impact(
    name: str,
    consumer: Consumer,
    head: Consumer,
    old: Snapshot,
    new: Snapshot,
    before_reader: _Reader,
    after_reader: _Reader,
    renames: Renames,
) -> ModelImpact | None:
    old_name = renames.old_model(name)
    before_model = old.models_by_name.get(old_name)
    after_model = new.models_by_name.get(name)
    if before_model is None and after_model is None:
        return None
    before = before_reader.access(before_model, consumer) if before_model else None
    after = after_reader.access(after_model, head) if after_model else None
    if before is None and after is None:
        return None
    if before is not None and renames.channels:
        before = Access(
            before.model,
            tuple(
                dataclasses.replace(r, channel=renames.new_channel(r.channel))
                for r in before.routes
            ),
            before.excluded,
        )
    if before is not None and after is not None and _routing(before) == _routing(after):
        return None  # a price alone changed: the pricing section tells it once, not per consumer
    lost_aliases = tuple(
        a for a in _aliases(old, old_name) if after is None or new.resolve_name(a) is None
    )
    return ModelImpact(name, before, after, lost_aliases)


def _routing(access: Access) -> list[tuple[str, float, str, bool]]:
    return [(r.channel, r.share, r.data_destination, r.real) for r in access.routes]


def impact_by_model(
    impacts: Iterable[ConsumerImpact], verdicts: set[str]
) -> Mapping[tuple[str, str, str], list[str]]:
    """(model, verdict, reason) -> consumers, for the verdicts asked for, in consumer order."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for impact in impacts:
        for model in impact.models:
            if model.verdict in verdicts:
                key = (model.name, model.verdict, model.reason)
                grouped.setdefault(key, []).append(impact.consumer)
    return grouped
