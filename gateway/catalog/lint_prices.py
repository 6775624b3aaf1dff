"""Rules about channels' prices: inline prices that fit the model's type, price book entries
that exist, match and belong to the channel's provider, and public models left unpriced."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, PriceRef, diagnostic, where
from gateway.diagnostics import Diagnostic

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


def _mtype(model: Document) -> str:
    return model.data["type"]


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
