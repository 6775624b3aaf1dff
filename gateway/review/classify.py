"""Sorting entity changes into the review classes: breaking, pricing, security and other.

Routing findings come from `gateway.review.routing`, which asks the route planner.
One function per entity kind; each returns the findings its changes mean for users.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gateway.review.classify_consumers import classify_consumer
from gateway.review.classify_fields import (
    Context,
    _destination,
    _grouped,
    _names,
    _owner_change,
    _set_change,
    _was,
)
from gateway.review.diff import EntityChange, FieldChange
from gateway.review.findings import Finding
from gateway.review.plain import plain_finding
from gateway.review.pricing import price_finding
from gateway.review.quota import classify_org
from gateway.review.upstreams import classify_provider, new_env_findings

#: How widely a model may be used; a lateral move (protected <-> internal) narrows for someone.
_OPENNESS = {"private": 0, "internal": 1, "protected": 1, "public": 2}


# --- models ---------------------------------------------------------------------------------


def referrers(snapshot: Mapping[str, Any], model: str) -> list[dict[str, str]]:
    """Everything in a snapshot that names `model`: aliases, consumer allow-lists, tasks."""
    found = [
        {"kind": "alias", "name": a, "via": "alias"}
        for a, m in sorted(snapshot.get("aliases", {}).items())
        if m == model
    ]
    found += [
        {"kind": "consumer", "name": c["name"], "via": "models allow-list"}
        for c in snapshot.get("consumers", ())
        if model in (c.get("models") or ())
    ]
    tasks = (snapshot.get("settings") or {}).get("internal_tasks", {})
    found += [
        {"kind": "internal_task", "name": t, "via": "Settings.internal_tasks"}
        for t, m in sorted(tasks.items())
        if m == model
    ]
    return found


def _model_removed(change: EntityChange, ctx: Context) -> Finding:
    still = referrers(ctx.head, change.name)
    had = [r for r in referrers(ctx.base, change.name) if r not in still]
    parts = []
    if still:
        parts.append("still named by " + ", ".join(f"{r['kind']} `{r['name']}`" for r in still))
    if had:
        parts.append("was named by " + ", ".join(f"{r['kind']} `{r['name']}`" for r in had))
    message = "model removed" + ("; " + "; ".join(parts) if parts else "")
    return Finding(
        "breaking", "model", change.name, message, {"still_named_by": still, "was_named_by": had}
    )


def _model_renamed(change: EntityChange, ctx: Context) -> Finding:
    old = ctx.renames.old_model(change.name)
    if ctx.head.get("aliases", {}).get(old) == change.name:
        return Finding(
            "other",
            "model",
            change.name,
            f"model renamed: `{old}` → `{change.name}`; the old name stays as an alias",
            {"renamed_from": old, "old_name_kept": True},
        )
    return Finding(
        "breaking",
        "model",
        change.name,
        f"model renamed: `{old}` → `{change.name}`; requests for `{old}` now fail "
        f"(keep it as an alias to avoid that)",
        {"renamed_from": old, "old_name_kept": False},
    )


def _model_field(change: EntityChange, f: FieldChange) -> Iterator[Finding]:
    head = f.path[0]
    if head == "status":
        category = "breaking" if f.after == "inactive" else "other"
        yield Finding(category, "model", change.name, f"status {f.before} → {f.after}", _was(f))
    elif head == "type":
        yield Finding("breaking", "model", change.name, f"type {f.before} → {f.after}", _was(f))
    elif head == "visibility":
        widened = _OPENNESS.get(f.after, 0) > _OPENNESS.get(f.before, 0)
        yield Finding(
            "security" if widened else "breaking",
            "model",
            change.name,
            f"visibility {'widened' if widened else 'narrowed'}: {f.before} → {f.after}",
            _was(f),
        )
    elif head in ("capabilities", "native_tools"):
        added, removed = _set_change(f)
        what = "capability" if head == "capabilities" else "native tool"
        if removed:
            yield Finding(
                "breaking",
                "model",
                change.name,
                f"{what} removed: {_names(removed)}",
                {"field": head, "removed": removed},
            )
        if added:
            yield Finding(
                "other",
                "model",
                change.name,
                f"{what} added: {_names(added)}",
                {"field": head, "added": added},
            )
    elif head == "owner":
        yield from _owner_change(change)
    else:
        yield plain_finding(change, f)


def classify_model(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    if change.action == "removed":
        yield _model_removed(change, ctx)
    elif change.action == "added":
        after = change.after or {}
        # A public model is open to every consumer at once: an access change.
        category = "security" if after.get("visibility") == "public" else "other"
        yield Finding(
            category,
            "model",
            change.name,
            f"model added ({after.get('type')}, {after.get('visibility')})",
            {},
        )
    else:
        if change.action == "renamed":
            yield _model_renamed(change, ctx)
        for f in _grouped(change):
            yield from _model_field(change, f)


# --- aliases, channels, providers -----------------------------------------------------------


def classify_alias(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    before = (change.before or {}).get("model")
    after = (change.after or {}).get("model")
    if change.action == "added":
        yield Finding(
            "other",
            "alias",
            change.name,
            f"alias added → `{after}`",
            {"before": None, "after": after},
        )
    elif change.action == "removed":
        yield Finding(
            "breaking",
            "alias",
            change.name,
            f"alias removed (was → `{before}`)",
            {"before": before, "after": None},
        )
    else:
        yield Finding(
            "breaking",
            "alias",
            change.name,
            f"alias retargeted: `{before}` → `{after}`",
            {"before": before, "after": after},
        )


def classify_channel(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    # Routing effects of added, removed and re-weighted channels are told per model by
    # gateway.review.routing; here only what the routing section does not show.
    if change.action not in ("changed", "renamed"):
        if change.action == "added":
            found = price_finding(change.name, None, change.after)
            if found:
                yield found
        return
    price_done = False
    for f in _grouped(change):
        head = f.path[0]
        if head in ("price", "price_source"):
            if not price_done:
                price_done = True
                yield from _channel_price(change)
        elif head == "data_destination":
            yield _destination(change, f, "data destination")
        elif head == "owner":
            yield from _owner_change(change)
        elif head == "provider":
            yield Finding(
                "security",
                "channel",
                change.name,
                f"provider changed: `{f.before}` → `{f.after}`",
                _was(f),
            )
        elif head == "upstream_model":
            yield Finding(
                "breaking",
                "channel",
                change.name,
                f"upstream model swapped: `{f.before}` → `{f.after}` "
                f"(model `{(change.after or {}).get('model')}`): its users get "
                "another model's answers",
                _was(f),
            )
        elif head in ("priority", "weight", "status", "model"):
            continue  # the routing section shows the resulting shares and order
        else:
            yield plain_finding(change, f)


def _channel_price(change: EntityChange) -> Iterator[Finding]:
    found = price_finding(change.name, change.before, change.after)
    if found:
        yield found
    elif (source := change.field("price_source")) is not None:
        yield plain_finding(change, source)


# --- settings, capabilities, native tools ---------------------------------------------------


def classify_settings(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    for f in change.fields:
        if f.path[0] == "internal_tasks" and len(f.path) == 2:
            task = f.path[1]
            if f.before is not None:
                verb = "removed" if f.after is None else f"moved to `{f.after}`"
                yield Finding(
                    "breaking",
                    "settings",
                    "settings",
                    f"internal task `{task}` (was `{f.before}`) {verb}",
                    _was(f),
                )
            else:
                yield Finding(
                    "other",
                    "settings",
                    "settings",
                    f"internal task `{task}` added → `{f.after}`",
                    {"field": f.dotted, "before": None, "after": f.after},
                )
        elif f.path[0] == "env_prefixes":
            yield _env_prefixes(f)
        else:
            yield plain_finding(change, f)


def _env_prefixes(f: FieldChange) -> Finding:
    """An empty list puts no limit on ${ENV} references: dropping it is the widest change."""
    added, removed = _set_change(f)
    detail = {"field": "env_prefixes", "added": added, "removed": removed}
    if f.before and not f.after:
        return Finding(
            "security",
            "settings",
            "settings",
            "env prefixes removed: ${ENV} references may now name any variable of the proxy",
            detail,
        )
    widened = bool(added) and bool(f.before)
    return Finding(
        "security" if widened else "other",
        "settings",
        "settings",
        f"env prefixes: + {_names(added) or '—'} − {_names(removed) or '—'}",
        detail,
    )


def classify_vocabulary(change: EntityChange, ctx: Context) -> Iterator[Finding]:
    """Capabilities and native tools: their words matter through the models that use them."""
    if change.action != "changed":
        yield Finding(
            "other",
            change.kind,
            change.name,
            f"{change.kind.replace('_', ' ')} {change.action}",
            {},
        )
        return
    for f in change.fields:
        if f.path[0] == "price_per_call":
            found = price_finding(change.name, change.before, change.after, tool=True)
            if found:
                yield found
        else:
            yield plain_finding(change, f)


RULES: Mapping[str, Callable[[EntityChange, Context], Iterator[Finding]]] = {
    "settings": classify_settings,
    "provider": lambda change, ctx: classify_provider(change, ctx.defaulted),
    "capability": classify_vocabulary,
    "native_tool": classify_vocabulary,
    "model": classify_model,
    "alias": classify_alias,
    "channel": classify_channel,
    "consumer": classify_consumer,
    "org": classify_org,
}


def classify(changes: list[EntityChange], ctx: Context) -> list[Finding]:
    """Every non-routing finding of `changes`, in change order, then the new secret references."""
    found = [finding for change in changes for finding in RULES[change.kind](change, ctx)]
    return found + new_env_findings(ctx.base, ctx.head)
