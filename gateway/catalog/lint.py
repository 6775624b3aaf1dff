"""Semantic rules over a linked catalog: one function per rule, each yielding diagnostics."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any

from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, PriceRef, diagnostic, where
from gateway.catalog.protocols import EXTRAS, SERVES, native_tool_spellings
from gateway.catalog.quota_lint import RULES as QUOTA_RULES
from gateway.catalog.upstream_rules import RULES as UPSTREAM_RULES
from gateway.diagnostics import Diagnostic

Rule = Callable[[Catalog], Iterable[Diagnostic]]

TOKEN_UNITS = ("per_million_tokens", "per_thousand_tokens")
CHARACTER_UNITS = ("per_million_characters", "per_thousand_characters")
_Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
#: model type -> the (units allowed, amounts required, amounts not allowed) an inline price
#: may take, one triple per kind of price the type allows
PRICE_SHAPES: Mapping[str, tuple[_Shape, ...]] = {
    "chat": ((TOKEN_UNITS, ("input", "output"), ()),),
    "realtime": (
        (TOKEN_UNITS, ("input", "output"), ()),
        (("per_hour",), ("audio",), ()),
        (("per_call",), ("call",), ()),
    ),
    "embedding": ((TOKEN_UNITS, ("input",), ("output", "reasoning")),),
    "image-generation": ((("per_image",), ("images",), ()), (TOKEN_UNITS, ("input",), ())),
    "image-edit": ((("per_image",), ("images",), ()), (TOKEN_UNITS, ("input",), ())),
    "speech": ((CHARACTER_UNITS, ("characters",), ()),),
    "transcription": (
        (("per_second", "per_minute", "per_hour"), ("audio",), ()),
        (("per_call",), ("call",), ()),
    ),
    "video-generation": ((("per_second",), ("video",), ()),),
}
#: protocols that carry any native tool as the request spells it, so need no spelling
SPELLING_FREE = frozenset({"mock"})
#: protocols whose providers find their endpoint without a base_url
NO_BASE_URL = frozenset({"mock", "bedrock"})


def _mtype(model: Document) -> str:
    return model.data["type"]


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


def _inline_misfit(mtype: str, price: Mapping[str, Any]) -> str | None:
    shapes = PRICE_SHAPES[mtype]
    fitting = [s for s in shapes if price["unit"] in s[0]]
    if not fitting:
        units = [u for s in shapes for u in s[0]]
        return f"unit {price['unit']} does not fit {mtype} models (use {' or '.join(units)})"
    _, required, forbidden = fitting[0]
    missing = [a for a in required if a not in price]
    if missing:
        return f"a {mtype} price needs {' and '.join(required)}; {', '.join(missing)} missing"
    extra = [a for a in forbidden if a in price]
    if extra:
        return f"a {mtype} price has no {', '.join(extra)}"
    return None


def _priced(cat: Catalog) -> Iterator[tuple[Document, Document, PriceRef]]:
    """(channel, model, price) of every channel whose model is known."""
    for ch in cat.channels.values():
        model = cat.model_of(ch)
        if model is not None:
            yield ch, model, cat.prices[ch.name]


def inline_price_fits(cat: Catalog) -> Iterable[Diagnostic]:
    """MY409: an inline price whose unit or amounts do not fit the model's type."""
    for ch, model, ref in _priced(cat):
        problem = (
            _inline_misfit(_mtype(model), ref.price)
            if ref.source == "inline" and ref.price is not None
            else None
        )
        if problem:
            yield diagnostic(
                ch,
                ("price", "unit"),
                "MY409",
                f"channel {ch.name!r}: {problem}",
                "fix the inline price, or take it from a PriceBook: price: {book: NAME}",
            )


def book_entry_exists(cat: Catalog) -> Iterable[Diagnostic]:
    """MY410: the price book a channel names has no entry for its upstream model."""
    for ch, _, ref in _priced(cat):
        if ref.named and ref.book is not None and ref.price is None:
            upstream = ch.data["upstream_model"]
            yield diagnostic(
                ch,
                ref.path,
                "MY410",
                f"price book {ref.book.name!r} has no entry for {upstream!r}",
                f"add prices.{upstream} to the book at {where(ref.book)}, or fix upstream_model",
            )


def book_entry_type(cat: Catalog) -> Iterable[Diagnostic]:
    """MY411: the book entry a channel's price comes from is for another model type."""
    for ch, model, ref in _priced(cat):
        if ref.book is not None and ref.price is not None and ref.price["type"] != _mtype(model):
            yield diagnostic(
                ch,
                ref.path,
                "MY411",
                f"price book {ref.book.name!r} prices {ch.data['upstream_model']!r} "
                f"as {ref.price['type']}, but model {model.name!r} is {_mtype(model)}",
                "point the channel at the right upstream_model or price book",
            )


def price_missing(cat: Catalog) -> Iterable[Diagnostic]:
    """MY412: a channel of a public model with no price: its usage cannot be costed."""
    for ch, model, ref in _priced(cat):
        # With an unknown provider, the provider is the finding (MY305), not the price.
        if (
            ref.source is None
            and model.data.get("visibility", "public") == "public"
            and cat.provider_of(ch) is not None
        ):
            yield diagnostic(
                ch,
                ("name",),
                "MY412",
                f"channel {ch.name!r} of public model {model.name!r} has no price",
                f"add price: to the channel, or an entry {ch.data['upstream_model']!r} "
                f"to a PriceBook of provider {ch.data['provider']!r}; usage is not "
                "costed until then",
            )


def foreign_price_book(cat: Catalog) -> Iterable[Diagnostic]:
    """MY413: a channel priced from the book of another provider than its own."""
    for ch, _, ref in _priced(cat):
        if ref.book is not None and ref.book.data["provider"] != ch.data["provider"]:
            yield diagnostic(
                ch,
                ref.path,
                "MY413",
                f"price book {ref.book.name!r} belongs to provider "
                f"{ref.book.data['provider']!r}, not {ch.data['provider']!r}",
                "use a price book of the channel's own provider, or an inline price",
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
