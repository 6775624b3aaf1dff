"""Prices in words: what a price of a model type or unit needs, for schema messages that
name only units, types and field names, never amounts."""

from __future__ import annotations

from typing import Any

from gateway.catalog.document import Document
from gateway.catalog.document import Path as NodePath


def article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


# --- prices: their shape depends on the unit and, in a price book, the model type ---

AMOUNTS = (
    "input",
    "output",
    "images",
    "characters",
    "audio",
    "video",
    "input_image",
    "output_image",
    "call",
)
TOKEN_UNITS = "per_million_tokens or per_thousand_tokens"
#: model type -> what its price needs, in words
TYPE_PRICES = {
    "chat": f"'input' and 'output' {TOKEN_UNITS}",
    "realtime": f"'input' and 'output' {TOKEN_UNITS}, or 'audio' per_hour, or 'call' per_call",
    "embedding": f"'input' {TOKEN_UNITS}, and no 'output'",
    "image-generation": "unit per_image and 'images' by size and quality, or token prices "
    f"('input', 'input_image', 'output_image') {TOKEN_UNITS}",
    "image-edit": "unit per_image and 'images' by size and quality, or token prices "
    f"('input', 'input_image', 'output_image') {TOKEN_UNITS}",
    "speech": "'characters' per_million_characters or per_thousand_characters",
    "transcription": "'audio' per_second, per_minute or per_hour, or 'call' per_call",
    "video-generation": "'video' per_second",
}
#: unit -> what a price in it needs, in words
UNIT_PRICES = {
    "per_million_tokens": "'input' (and usually 'output'), no image, character, audio or "
    "video amounts",
    "per_image": "'images' by size and quality and no other amounts",
    "per_million_characters": "'characters' and no other amounts",
    "per_second": "exactly one of 'audio' or 'video' and no token, image or character amounts",
}
UNIT_PRICES["per_thousand_tokens"] = UNIT_PRICES["per_million_tokens"]
UNIT_PRICES["per_thousand_characters"] = UNIT_PRICES["per_million_characters"]
UNIT_PRICES["per_minute"] = UNIT_PRICES["per_second"]
UNIT_PRICES["per_hour"] = "'audio' and no other amounts"
UNIT_PRICES["per_call"] = "'call' (the price of one request) and no other amounts"


def price_root(doc: Document, path: NodePath) -> NodePath | None:
    """The path of the price that `path` is in, if any."""
    if doc.kind == "Channel" and path[:1] == ("price",):
        return ("price",)
    if doc.kind == "PriceBook" and len(path) >= 2 and path[0] == "prices":
        return path[:2]
    return None


def price_shape(doc: Document, root: NodePath) -> tuple[str, str]:
    """Message and hint for a price whose amounts do not fit its unit or model type.

    Only the unit and type (both checked against their closed vocabularies) and key
    names are repeated; amounts never are.
    """
    price: Any = doc.data
    for step in root:
        price = price[step]
    if not isinstance(price, dict):
        return "a price must be a mapping", "write unit: and the amounts"
    present = ", ".join(k for k in AMOUNTS if k in price) or "no amounts"
    model_type, unit = price.get("type"), price.get("unit")
    if model_type in TYPE_PRICES:
        return (
            f"{article(model_type)} {model_type} price needs {TYPE_PRICES[model_type]}",
            f"this one has unit {unit if unit in UNIT_PRICES else '(none)'} and {present}",
        )
    if unit in UNIT_PRICES:
        return f"a price {unit} needs {UNIT_PRICES[unit]}", f"this one has {present}"
    if "book" in price:
        return "a price from a book is just `{book: NAME}`", "remove the other fields"
    return "a price needs a unit", f"add unit: one of {', '.join(UNIT_PRICES)}"
