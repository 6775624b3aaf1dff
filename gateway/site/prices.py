"""Channel prices on the comparison scales of the site: per million tokens, per image,
per minute, per million characters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from gateway.catalog.snapshot import Price

#: Comparison scales, in the order the price page shows them.
TOKENS, IMAGES, MINUTES, CHARACTERS = "tokens", "images", "minutes", "characters"
SCALES = (TOKENS, IMAGES, MINUTES, CHARACTERS)
SCALE_TITLES = {
    TOKENS: "per million tokens",
    IMAGES: "per image",
    MINUTES: "per minute",
    CHARACTERS: "per million characters",
}

#: What one amount of a unit is worth on its scale.
_FACTORS: Mapping[str, tuple[str, Decimal]] = {
    "per_million_tokens": (TOKENS, Decimal(1)),
    "per_thousand_tokens": (TOKENS, Decimal(1000)),
    "per_million_characters": (CHARACTERS, Decimal(1)),
    "per_thousand_characters": (CHARACTERS, Decimal(1000)),
    "per_minute": (MINUTES, Decimal(1)),
    "per_second": (MINUTES, Decimal(60)),
    "per_image": (IMAGES, Decimal(1)),
}
#: The amount that stands for a price when models are sorted by price, per scale.
_HEADLINE = {TOKENS: "input", CHARACTERS: "characters", MINUTES: ("audio", "video")}


@dataclass(frozen=True, slots=True)
class ScaledPrice:
    """One channel's price on its comparison scale."""

    currency: str
    scale: str
    amounts: Mapping[str, Decimal]  # input, output, cached_input, characters, audio, video
    images: tuple[tuple[str, str, Decimal], ...]  # (size, quality, price per image)

    def headline(self) -> Decimal | None:
        """The one number that stands for this price (input tokens, the cheapest image...)."""
        if self.scale == IMAGES:
            return min((p for _, _, p in self.images), default=None)
        names = _HEADLINE[self.scale]
        for name in (names,) if isinstance(names, str) else names:
            if name in self.amounts:
                return self.amounts[name]
        return None


def scaled(price: Price | None) -> ScaledPrice | None:
    """The price on its comparison scale, or None when unpriced or in an unknown unit."""
    if price is None or price.unit not in _FACTORS:
        return None
    scale, factor = _FACTORS[price.unit]
    amounts = {k: v * factor for k, v in price.amounts.items()}
    images = tuple(
        (size, quality, amount)
        for size, qualities in sorted(price.images.items())
        for quality, amount in sorted(qualities.items())
    )
    return ScaledPrice(price.currency, scale, amounts, images)


def money(amount: Decimal | None, currency: str = "") -> str:
    """An amount for people: no exponent, no trailing zeros, at most 6 decimals."""
    if amount is None:
        return "—"
    text = format(amount.quantize(Decimal("0.000001")).normalize(), "f")
    return f"{text} {currency}".strip()
