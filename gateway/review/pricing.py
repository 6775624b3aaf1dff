"""Price changes: old and new amount for each priced item, with the change in percent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.review.findings import Finding

_NOT_AMOUNTS = ("currency", "unit", "images", "videos")
_UNITS = {
    "per_million_tokens": "per 1M tokens",
    "per_thousand_tokens": "per 1K tokens",
    "per_image": "per image",
    "per_million_characters": "per 1M characters",
    "per_thousand_characters": "per 1K characters",
    "per_second": "per second",
    "per_minute": "per minute",
    "per_hour": "per hour",
    "per_call": "per call",
}


def amounts(price: Mapping[str, Any] | None) -> dict[str, str]:
    """A price's amounts flattened to name -> decimal string; images as `image SIZE QUALITY`."""
    if not price:
        return {}
    flat = {k: str(v) for k, v in price.items() if k not in _NOT_AMOUNTS}
    for size, qualities in (price.get("images") or {}).items():
        flat.update({f"image {size} {q}": str(p) for q, p in qualities.items()})
    flat.update({f"video {size}": str(p) for size, p in (price.get("videos") or {}).items()})
    return flat


def _decimal(value: str | None) -> Decimal | None:
    try:
        return None if value is None else Decimal(value)
    except InvalidOperation:
        return None


def percent_change(before: str | None, after: str | None) -> str | None:
    """(after - before) / before in percent, signed, two decimals at most; None if undefined."""
    old, new = _decimal(before), _decimal(after)
    if old is None or new is None or old == 0:
        return None
    pct = ((new - old) / old * 100).quantize(Decimal("0.01"))
    text = format(pct.normalize(), "f") if pct != 0 else "0"
    return text if text.startswith("-") or text == "0" else f"+{text}"


def amount_changes(
    before: Mapping[str, str], after: Mapping[str, str], comparable: bool
) -> Iterator[dict[str, Any]]:
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and _decimal(old) == _decimal(new):
            continue
        yield {
            "amount": key,
            "before": old,
            "after": new,
            "change_percent": percent_change(old, new) if comparable else None,
        }


def unit_label(unit: str | None) -> str:
    return _UNITS.get(unit or "", unit or "")


def price_finding(
    name: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    tool: bool = False,
) -> Finding | None:
    """The pricing finding of a channel (or native tool, `tool=True`), or None if unchanged."""
    if tool:
        old_p = _tool_price(before)
        new_p = _tool_price(after)
        kind = "native_tool"
    else:
        old_p = (before or {}).get("price")
        new_p = (after or {}).get("price")
        kind = "channel"
    old_cu = (old_p or {}).get("currency"), (old_p or {}).get("unit")
    new_cu = (new_p or {}).get("currency"), (new_p or {}).get("unit")
    # A different currency or unit makes amounts incomparable: show both, no percentage.
    comparable = old_p is not None and old_cu == new_cu
    rows = list(amount_changes(amounts(old_p), amounts(new_p), comparable))
    if not rows and old_cu == new_cu:
        return None
    side = after or before or {}
    detail: dict[str, Any] = {
        "currency": new_cu[0] or old_cu[0],
        "unit": new_cu[1] or old_cu[1],
        "amounts": rows,
    }
    if not comparable and old_p is not None:
        detail["before_currency"], detail["before_unit"] = old_cu
    if not tool:
        detail.update(
            {
                "model": side.get("model"),
                "provider": side.get("provider"),
                "upstream_model": side.get("upstream_model"),
            }
        )
    return Finding("pricing", kind, name, _message(rows, detail, new_p is None), detail)


def _tool_price(tool: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not tool or tool.get("price_per_call") is None:
        return None
    return {
        "currency": tool.get("currency", "USD"),
        "unit": "per_call",
        "per call": tool["price_per_call"],
    }


def _message(rows: list[dict[str, Any]], detail: Mapping[str, Any], removed: bool) -> str:
    if removed:
        return "price removed"
    parts = []
    for row in rows:
        pct = f" ({row['change_percent']}%)" if row["change_percent"] is not None else ""
        parts.append(f"{row['amount']} {row['before'] or '—'} → {row['after'] or '—'}{pct}")
    unit = unit_label(detail["unit"])
    return f"{'; '.join(parts) or 'unit or currency changed'} {detail['currency']} {unit}".strip()
