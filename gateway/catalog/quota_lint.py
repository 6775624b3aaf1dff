"""Rules about quotas (Consumer.quota, Org.quota): references, reach and limits that bind."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, diagnostic
from gateway.diagnostics import Diagnostic

#: the limits a quota may set, for all models and per model
LIMITS = (
    "requests_per_minute",
    "tokens_per_minute",
    "concurrent_requests",
    "budget_per_day",
    "budget_per_month",
)
BUDGETS = ("budget_per_day", "budget_per_month")


def _quota_documents(cat: Catalog) -> Iterator[Document]:
    for kind in ("Consumer", "Org"):
        for doc in cat.kind(kind).values():
            if isinstance(doc.data.get("quota"), Mapping):
                yield doc


def quota_models_exist(cat: Catalog) -> Iterable[Diagnostic]:
    """MY304: a per-model quota names a model the catalog does not define."""
    for doc in _quota_documents(cat):
        for name in doc.data["quota"].get("models") or {}:
            if name in cat.models or ("Model", name) in cat.dropped:
                continue
            hint = (
                f"{name!r} is an alias; key the limits by the model itself: {cat.aliases[name]!r}"
                if name in cat.aliases
                else "use the name of a Model document"
            )
            yield diagnostic(
                doc,
                ("quota", "models", name),
                "MY304",
                f"{doc.kind} {doc.name!r} sets limits for unknown Model {name!r}",
                hint,
            )


def org_without_members(cat: Catalog) -> Iterable[Diagnostic]:
    """MY421: an Org with a quota that no consumer belongs to: its limits bind nobody."""
    members = {org for c in cat.kind("Consumer").values() for org in c.data.get("orgs") or ()}
    for doc in cat.kind("Org").values():
        if doc.data.get("quota") and doc.name not in members:
            yield diagnostic(
                doc,
                ("name",),
                "MY421",
                f"no consumer belongs to org {doc.name!r}: its quota limits nobody",
                f"add {doc.name!r} to the orgs of the consumers it is for",
            )


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def model_limit_never_binds(cat: Catalog) -> Iterable[Diagnostic]:
    """MY422: a per-model limit at or above the same limit for all models never binds."""
    for doc in _quota_documents(cat):
        quota = doc.data["quota"]
        for name, limits in (quota.get("models") or {}).items():
            if not isinstance(limits, Mapping):
                continue
            for limit in LIMITS:
                if (
                    limit in limits
                    and limit in quota
                    and _number(limits[limit]) >= _number(quota[limit])
                ):
                    yield diagnostic(
                        doc,
                        ("quota", "models", name, limit),
                        "MY422",
                        f"{limit} {limits[limit]} for model {name!r} is not below the "
                        f"{limit} {quota[limit]} of all models: it never binds",
                        "lower it, or remove it",
                    )


def budget_without_prices(cat: Catalog) -> Iterable[Diagnostic]:
    """MY423: a spend budget covers a model with an active channel that has no price."""
    for doc in _quota_documents(cat):
        quota = doc.data["quota"]
        scoped = [(("quota",), quota, None)] + [
            (("quota", "models", n), q, n)
            for n, q in (quota.get("models") or {}).items()
            if isinstance(q, Mapping)
        ]
        for path, limits, only in scoped:
            if not any(b in limits for b in BUDGETS):
                continue
            unpriced = sorted(
                name
                for name, channels in cat.channels_of.items()
                if (only is None or name == only)
                and any(
                    ch.data.get("status", "active") == "active"
                    and cat.prices.get(ch.name) is not None
                    and cat.prices[ch.name].price is None
                    for ch in channels
                )
            )
            if unpriced:
                budget = next(b for b in BUDGETS if b in limits)
                yield diagnostic(
                    doc,
                    (*path, budget),
                    "MY423",
                    f"the budget of {doc.kind} {doc.name!r} cannot count "
                    f"{', '.join(map(repr, unpriced[:3]))}: an active channel "
                    "has no price",
                    "give those channels a price",
                )


RULES = (quota_models_exist, org_without_members, model_limit_never_binds, budget_without_prices)
