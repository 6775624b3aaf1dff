"""Route planning: which channels of a model may serve a consumer, in which groups and shares.

Pure functions of the snapshot and the caller's view of channel health, so the proxy's router,
`modelyard route` and the catalog diff all explain routing the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import (
    DATA_DESTINATIONS,
    PRIORITIES,
    Channel,
    Consumer,
    Model,
    Owner,
    Snapshot,
)

#: Group names in the order they are tried: the consumer's own (private) channels first,
#: by priority class, then the public ones by priority class; weighted inside a group.
GROUPS = (*(f"private-{p}" for p in PRIORITIES), *PRIORITIES)

Group = tuple[str, tuple[tuple[Channel, int], ...]]


def owned_by(owner: Owner, consumer: Consumer | None) -> bool:
    """Whether `consumer` acts for `owner`: the owner itself, or a member of the owner org."""
    if consumer is None:
        return False
    if consumer.owner == owner:
        return True
    return owner.type == "org" and owner.code in consumer.orgs


def destination_limit(consumer: Consumer | None, max_destination: str | None) -> int:
    """The highest data destination level a request may reach (narrowed, never widened)."""
    limit = DATA_DESTINATIONS["overseas"]
    if consumer is not None:
        limit = consumer.destination_level
    if max_destination is not None:
        limit = min(limit, DATA_DESTINATIONS[max_destination])
    return limit


@dataclass(slots=True, init=False)  # per request: read-only by convention (frozen costs 4x),
class RoutePlan:  # a compiled __init__ (docs/development.md)
    """The candidate channels of one request, grouped in trial order, and the ones left out."""

    model: Model
    groups: tuple[Group, ...]
    excluded: tuple[tuple[Channel, str], ...]

    def __init__(
        self,
        model: Model,
        groups: tuple[Group, ...],
        excluded: tuple[tuple[Channel, str], ...],
    ) -> None:
        self.model = model
        self.groups = groups
        self.excluded = excluded

    @property
    def empty(self) -> bool:
        return not self.groups

    def first_choice_probabilities(self) -> dict[str, float]:
        """Probability that each candidate is tried first, every candidate being healthy."""
        probabilities = {c.name: 0.0 for _, members in self.groups for c, _ in members}
        if self.groups:
            members = self.groups[0][1]
            total = sum(w for _, w in members)
            for channel, weight in members:
                # A group of weight-0 channels only is still tried: its members share evenly.
                probabilities[channel.name] = weight / total if total else 1 / len(members)
        return probabilities

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data: candidates in group order with first-choice odds, exclusions."""
        probabilities = self.first_choice_probabilities()
        return {
            "model": self.model.name,
            "candidates": [
                {
                    "group": group,
                    "channel": c.name,
                    "provider": c.provider,
                    "upstream_model": c.upstream_model,
                    "data_destination": c.data_destination,
                    "weight": weight,
                    "first_choice_probability": round(probabilities[c.name], 6),
                }
                for group, members in self.groups
                for c, weight in members
            ],
            "excluded": [
                {"channel": c.name, "provider": c.provider, "reason": reason}
                for c, reason in self.excluded
            ],
        }

    def failover_order(self) -> list[Channel]:
        """A static reading of the order: groups in order, heavier channels first, then name."""
        return [
            c
            for _, members in self.groups
            for c, _ in sorted(members, key=lambda m: (-m[1], m[0].name))
        ]


def _exclusion(
    channel: Channel,
    consumer: Consumer | None,
    limit: int,
    is_available: Callable[[Channel], str | None],
) -> str | None:
    if channel.status != "active":
        return "inactive"
    if channel.owner is not None and not owned_by(channel.owner, consumer):
        return "owner"
    if channel.destination_level > limit:
        return f"data_destination ({channel.data_destination} is above the allowed level)"
    return is_available(channel)


def plan_route(
    snapshot: Snapshot,
    model: Model | str,
    consumer: Consumer | None,
    *,
    max_destination: str | None,
    is_available: Callable[[Channel], str | None] = lambda c: None,
) -> RoutePlan:
    """Plan the routing of `model` for `consumer`.

    `max_destination` narrows the consumer's own limit (a request header); `is_available`
    returns a reason ("circuit_open", "missing_secret", ...) for a channel that must not be
    tried now, or None.
    """
    if isinstance(model, str):
        found = snapshot.resolve_name(model)
        if found is None:
            raise KeyError(model)
        model = found
    limit = destination_limit(consumer, max_destination)
    members: dict[str, list[tuple[Channel, int]]] = {g: [] for g in GROUPS}
    excluded: list[tuple[Channel, str]] = []
    for name in model.channels:
        channel = snapshot.channels[name]
        reason = _exclusion(channel, consumer, limit, is_available)
        if reason is not None:
            excluded.append((channel, reason))
        else:
            group = f"private-{channel.priority}" if channel.owner is not None else channel.priority
            members[group].append((channel, channel.weight))
    groups = tuple((g, tuple(members[g])) for g in GROUPS if members[g])
    return RoutePlan(model, groups, tuple(excluded))


def _weighted_order(members: tuple[tuple[Channel, int], ...], rng: random.Random) -> list[Channel]:
    """Weighted random order without replacement; weight-0 channels last, in catalog order."""
    pool = [(c, w) for c, w in members if w > 0]
    if not pool:  # only fallbacks left in this group: they share evenly
        pool = [(c, 1) for c, _ in members]
        members = ()
    order: list[Channel] = []
    total = sum(w for _, w in pool)
    while pool:
        pick = rng.random() * total
        for i, (channel, weight) in enumerate(pool):
            pick -= weight
            if pick < 0 or i == len(pool) - 1:
                order.append(channel)
                total -= weight
                del pool[i]
                break
    order.extend(c for c, w in members if w == 0)
    return order


def ordered_attempts(plan: RoutePlan, rng: random.Random) -> list[Channel]:
    """The channels of `plan` in the order one request tries them."""
    if len(plan.groups) == 1 and len(plan.groups[0][1]) == 1:
        return [plan.groups[0][1][0][0]]  # the common case: one channel, no draw needed
    return [c for _, members in plan.groups for c in _weighted_order(members, rng)]
