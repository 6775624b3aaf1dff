"""Semantic rules over a linked catalog: one function per rule, each yielding diagnostics."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from functools import partial

from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, diagnostic, where
from gateway.catalog.lint_prices import (
    _mtype,
    book_entry_exists,
    book_entry_type,
    foreign_price_book,
    inline_price_fits,
    price_missing,
)
from gateway.catalog.protocols import EXTRAS, SERVES, native_tool_spellings
from gateway.catalog.quota_lint import RULES as QUOTA_RULES
from gateway.catalog.upstream_rules import RULES as UPSTREAM_RULES
from gateway.diagnostics import Diagnostic

Rule = Callable[[Catalog], Iterable[Diagnostic]]

#: protocols that carry any native tool as the request spells it, so need no spelling
SPELLING_FREE = frozenset({"mock"})
#: protocols whose providers find their endpoint without a base_url
NO_BASE_URL = frozenset({"mock", "bedrock"})


def _active(doc: Document) -> bool:
    return doc.data.get("status", "active") == "active"


def _applies(cat: Catalog, field: str, kind: str, code: str) -> Iterable[Diagnostic]:
    targets = cat.kind(kind)
    for model in cat.models.values():
        for i, name in enumerate(model.data.get(field, ())):
            target = targets.get(name)
            if target is not None and _mtype(model) not in target.data["applies_to"]:
                applies = ", ".join(target.data["applies_to"])
                yield diagnostic(
                    model,
                    (field, i),
                    code,
                    f"{kind} {name!r} does not apply to {_mtype(model)} models "
                    f"(applies to: {applies})",
                    f"remove it from the model's {field}, or add {_mtype(model)} to "
                    f"its applies_to at {where(target)}",
                )


def capability_applies(cat: Catalog) -> Iterable[Diagnostic]:
    """MY401: a model lists a capability whose applies_to lacks the model's type."""
    return _applies(cat, "capabilities", "Capability", "MY401")


def native_tool_applies(cat: Catalog) -> Iterable[Diagnostic]:
    """MY402: a model allows a native tool whose applies_to lacks the model's type."""
    return _applies(cat, "native_tools", "NativeTool", "MY402")


def protocol_serves_type(cat: Catalog) -> Iterable[Diagnostic]:
    """MY403: a channel's provider speaks a protocol that cannot serve its model's type."""
    for ch in cat.channels.values():
        model, provider = cat.model_of(ch), cat.provider_of(ch)
        if model is None or provider is None:
            continue
        protocol = provider.data["protocol"]
        if _mtype(model) not in SERVES[protocol]:
            able = ", ".join(sorted(p for p, types in SERVES.items() if _mtype(model) in types))
            yield diagnostic(
                ch,
                ("provider",),
                "MY403",
                f"provider {provider.name!r} speaks {protocol}, which cannot serve "
                f"{_mtype(model)} models like {model.name!r}",
                f"use a provider whose protocol serves {_mtype(model)}: {able}",
            )


def protocol_edits_images(cat: Catalog) -> Iterable[Diagnostic]:
    """MY416: an image model with the image_edit capability has a channel whose protocol
    cannot edit images; edits skip that channel (generations still use it)."""
    for ch in cat.channels.values():
        model, provider = cat.model_of(ch), cat.provider_of(ch)
        if (
            model is None
            or provider is None
            or _mtype(model) != "image-generation"
            or "image_edit" not in (model.data.get("capabilities") or ())
        ):
            continue
        protocol = provider.data["protocol"]
        if "image-edit" not in SERVES[protocol]:
            able = ", ".join(sorted(p for p, types in SERVES.items() if "image-edit" in types))
            yield diagnostic(
                ch,
                ("provider",),
                "MY416",
                f"model {model.name!r} edits images (capability image_edit), but "
                f"provider {provider.name!r} speaks {protocol}, which cannot: "
                "image edits skip this channel",
                f"serve edits through a provider whose protocol edits images "
                f"({able}), or drop image_edit from the model",
            )


def native_tool_spelling(cat: Catalog) -> Iterable[Diagnostic]:
    """MY404: a model allows a native tool that one of its channels' protocols cannot carry."""
    tools = cat.kind("NativeTool")
    for model in cat.models.values():
        by_protocol: dict[str, list[str]] = {}
        for ch in cat.channels_of.get(model.name, ()):
            provider = cat.provider_of(ch)
            if provider is not None and provider.data["protocol"] not in SPELLING_FREE:
                by_protocol.setdefault(provider.data["protocol"], []).append(ch.name)
        for i, name in enumerate(model.data.get("native_tools", ())):
            tool = tools.get(name)
            if tool is None:
                continue
            spellings = tool.data.get("spellings", {})
            for protocol in sorted(set(by_protocol) - set(spellings)):
                carried = native_tool_spellings(protocol)
                if carried is None or name in carried:
                    continue  # the protocol's adapter spells it
                yield diagnostic(
                    model,
                    ("native_tools", i),
                    "MY404",
                    f"native tool {name!r} cannot be carried by protocol {protocol}, "
                    f"used by channel(s) {', '.join(sorted(by_protocol[protocol]))}",
                    f"requests through them go without the tool (named in the "
                    f"x-modelyard-dropped-tools header); add spellings.{protocol} "
                    f"to NativeTool {name!r} ({where(tool)}) if the upstream has "
                    "it, or serve the model where the tool exists",
                )


def model_without_active_channel(cat: Catalog) -> Iterable[Diagnostic]:
    """MY405: an active public or internal model that no active channel serves."""
    for model in cat.models.values():
        if not _active(model) or model.data.get("visibility", "public") not in (
            "public",
            "internal",
        ):
            continue
        if model.name in cat.dropped_channel_models or cat.incomplete:
            continue
        channels = cat.channels_of.get(model.name, ())
        # A channel with a broken provider reference is reported there, not here again.
        if not any(_active(ch) for ch in channels):
            yield diagnostic(
                model,
                ("name",),
                "MY405",
                f"active {model.data.get('visibility', 'public')} model "
                f"{model.name!r} has no active channel",
                f"add an active Channel with model: {model.name}, or set the "
                "model's status: inactive",
            )


def owner_required(cat: Catalog) -> Iterable[Diagnostic]:
    """MY406: a private model, or a channel made private, without a person or org owner."""
    for model in cat.models.values():
        owner = model.data.get("owner")
        if model.data.get("visibility") == "private" and (
            owner is None or owner["type"] == "system"
        ):
            yield diagnostic(
                model,
                ("owner",) if owner else ("visibility",),
                "MY406",
                f"private model {model.name!r} has no person or org owner",
                "add owner: {type: person, code: LOGIN} (or an org)",
            )
    for ch in cat.channels.values():
        owner = ch.data.get("owner")
        if owner is not None and owner["type"] == "system":
            yield diagnostic(
                ch,
                ("owner", "type"),
                "MY406",
                f"channel {ch.name!r} is owned by the system; an owner makes a "
                "channel private to a person or an org",
                "set owner.type to person or org, or remove the owner",
            )


def protected_needs_org(cat: Catalog) -> Iterable[Diagnostic]:
    """MY407: a protected model whose owner is not an org (membership decides access)."""
    for model in cat.models.values():
        owner = model.data.get("owner")
        if model.data.get("visibility") == "protected" and (
            owner is None or owner["type"] != "org"
        ):
            yield diagnostic(
                model,
                ("owner",) if owner else ("visibility",),
                "MY407",
                f"protected model {model.name!r} is not owned by an org",
                "add owner: {type: org, code: ORG}; members of that org may use it",
            )


def zero_weight_class(cat: Catalog) -> Iterable[Diagnostic]:
    """MY408: a priority class whose active channels all have weight 0 gets no share of traffic."""
    for model_name, channels in cat.channels_of.items():
        classes: dict[str, list[Document]] = {}
        for ch in channels:
            if _active(ch):
                classes.setdefault(ch.data.get("priority", "normal"), []).append(ch)
        for priority, members in sorted(classes.items()):
            if all(ch.data.get("weight", 1) == 0 for ch in members):
                first = min(members, key=lambda d: (d.file, d.line))
                names = ", ".join(sorted(ch.name for ch in members))
                yield diagnostic(
                    first,
                    ("weight",),
                    "MY408",
                    f"every active {priority} channel of model {model_name!r} has "
                    f"weight 0 ({names})",
                    "give at least one of them a weight above 0, or set them inactive",
                )


def module_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def extras_installed(
    cat: Catalog, has_module: Callable[[str], bool] = module_available
) -> Iterable[Diagnostic]:
    """MY414: a provider used by a channel needs an optional dependency that is missing."""
    used = {ch.data["provider"] for ch in cat.channels.values()}
    for provider in cat.providers.values():
        extra = EXTRAS.get(provider.data["protocol"])
        if extra and provider.name in used and not has_module(extra[0]):
            yield diagnostic(
                provider,
                ("protocol",),
                "MY414",
                f"protocol {provider.data['protocol']} of provider {provider.name!r} "
                f"needs {extra[0]}, which is not installed: its channels stay unavailable",
                extra[1],
            )


def base_url_required(cat: Catalog) -> Iterable[Diagnostic]:
    """MY415: a provider whose protocol needs a base_url has none."""
    for provider in cat.providers.values():
        protocol = provider.data["protocol"]
        if protocol not in NO_BASE_URL and not provider.data.get("base_url"):
            yield diagnostic(
                provider,
                ("protocol",),
                "MY415",
                f"provider {provider.name!r} ({protocol}) has no base_url",
                "add base_url: the root URL of the upstream API, such as https://api.openai.com/v1",
            )


RULES: tuple[Rule, ...] = (
    capability_applies,
    native_tool_applies,
    protocol_serves_type,
    protocol_edits_images,
    native_tool_spelling,
    model_without_active_channel,
    owner_required,
    protected_needs_org,
    zero_weight_class,
    inline_price_fits,
    book_entry_exists,
    book_entry_type,
    price_missing,
    foreign_price_book,
    base_url_required,
    *UPSTREAM_RULES,
    *QUOTA_RULES,
)


def lint(cat: Catalog, *, has_module: Callable[[str], bool] = module_available) -> list[Diagnostic]:
    """Every semantic finding about a linked catalog, in no particular order."""
    rules: tuple[Rule, ...] = (*RULES, partial(extras_installed, has_module=has_module))
    return [d for rule in rules for d in rule(cat)]
