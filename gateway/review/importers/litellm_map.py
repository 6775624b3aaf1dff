"""Reading the LiteLLM model price map: its importable entries and their prices in our units."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

SOURCE = "LiteLLM model price map (model_prices_and_context_window.json)"
MODES = {
    "chat": "chat",
    "responses": "chat",
    "embedding": "embedding",
    "image_generation": "image-generation",
    "image_edit": "image-edit",
    "audio_speech": "speech",
    "audio_transcription": "transcription",
    "realtime": "realtime",
    "video_generation": "video-generation",
}
_QUALITIES = {"standard", "hd", "low", "medium", "high", "max-steps"}
_SIZE = re.compile(r"^(\d+)-x-(\d+)$")
_NAME_BAD = re.compile(r"[^A-Za-z0-9._:@/+-]+")


def sanitize(name: str) -> str:
    """A catalog name (common.json name pattern) for an upstream model or provider name."""
    clean = _NAME_BAD.sub("-", name).lstrip("._:@/+-")[:128]
    return clean or "model"


def money(value: Any, scale: int = 1) -> str | None:
    """An exact decimal string of `value` x `scale`, without exponent; None if not a price."""
    try:
        amount = Decimal(str(value)) * scale
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return format(amount.normalize(), "f") if amount else "0"


def count(value: Any) -> int | None:
    """A positive whole number (a token limit), or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 1 else None


@dataclass
class Entry:
    """One priced upstream model of one provider (image sizes and qualities folded in)."""

    provider: str  # our provider name
    source: str  # the litellm provider it came from
    upstream: str
    key_name: str  # the map key without image size and quality: unique, stable across releases
    type: str
    spec: Mapping[str, Any]
    images: dict[str, dict[str, str]] = field(default_factory=dict)


def _split_key(key: str, provider: str) -> tuple[str, str, str | None, str | None]:
    """(upstream name, key name, size, quality) of a map key like `azure/hd/1024-x-1024/m`:
    the upstream name loses the provider prefix, the key name keeps it."""
    size = quality = None
    rest = []
    for part in key.split("/"):
        match = _SIZE.match(part)
        if match and size is None:
            size = f"{match[1]}x{match[2]}"
        elif (part in _QUALITIES or re.fullmatch(r"\d+-steps", part)) and quality is None:
            quality = part
        else:
            rest.append(part)
    named = "/".join(rest)
    if len(rest) > 1 and rest[0] == provider:
        rest = rest[1:]
    return "/".join(rest), named, size, quality


def _prefixed(key: str, spec: Any) -> bool:
    """Whether a key repeats its provider (`openai/sora-2`): the bare key wins a duplicate."""
    provider = spec.get("litellm_provider") if isinstance(spec, Mapping) else None
    return bool(provider) and key.startswith(f"{provider}/")


def _image_price(spec: Mapping[str, Any], size: str | None) -> str | None:
    if spec.get("output_cost_per_image") is not None:
        return money(spec["output_cost_per_image"])
    if spec.get("input_cost_per_image") is not None:
        return money(spec["input_cost_per_image"])
    pixel = spec.get("input_cost_per_pixel") or spec.get("output_cost_per_pixel")
    if pixel and size:
        width, height = (int(n) for n in size.split("x"))
        return money(pixel, width * height)
    return None


def collect(
    data: Mapping[str, Any],
    providers: set[str] | None,
    provider_map: Mapping[str, str],
    summary: Counter[str],
    conflicts: list[str] | None = None,
) -> list[Entry]:
    """The importable entries of the map for litellm `providers` (None: all), keyed by our
    provider name (`provider_map`, else the sanitised litellm name), in key order. Two keys
    for one upstream model whose prices differ are named in `conflicts` (the first is kept)."""
    entries: dict[tuple[str, str], Entry] = {}
    for key in sorted(data, key=lambda k: (_prefixed(k, data[k]), k)):
        spec = data[key]
        if key == "sample_spec" or not isinstance(spec, Mapping):
            continue
        provider = str(spec.get("litellm_provider") or "")
        if not provider or (providers is not None and provider not in providers):
            continue
        mtype = MODES.get(str(spec.get("mode")))
        if mtype is None:
            summary[f"skipped mode {spec.get('mode')}"] += 1
            continue
        upstream, named, size, quality = _split_key(key, provider)
        ours = provider_map.get(provider) or sanitize(provider.replace("_", "-"))
        found = entries.get((ours, upstream))
        if mtype in ("image-generation", "image-edit"):
            entry = found or entries.setdefault(
                (ours, upstream), Entry(ours, provider, upstream, named, mtype, spec)
            )
            price = _image_price(spec, size)
            if price is not None:
                entry.images.setdefault(size or "auto", {})[quality or "standard"] = price
            continue
        if found is not None:
            summary["skipped duplicate upstream model"] += 1
            if conflicts is not None and _prices_differ(found.spec, spec):
                conflicts.append(
                    f"{key}: same upstream model as {found.key_name!r} of "
                    f"{found.source}, with other prices; kept {found.key_name!r}"
                )
            continue
        entries[(ours, upstream)] = Entry(ours, provider, upstream, named, mtype, spec)
    return list(entries.values())


def _prices_differ(kept: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    keys = {k for k in (*kept, *other) if "cost" in k}
    return any(kept.get(k) != other.get(k) for k in keys)


def price_of(entry: Entry) -> dict[str, Any] | None:
    """The typed PriceBook entry of `entry`, or None when the map has no usable price."""
    spec, mtype = entry.spec, entry.type
    price: dict[str, Any] = {"type": mtype}
    if mtype in ("chat", "realtime", "embedding"):
        price["unit"] = "per_million_tokens"
        fields = {
            "input": "input_cost_per_token",
            "cached_input": "cache_read_input_token_cost",
            "cache_write": "cache_creation_input_token_cost",
        }
        if mtype != "embedding":
            fields |= {
                "output": "output_cost_per_token",
                "reasoning": "output_cost_per_reasoning_token",
            }
        for ours, theirs in fields.items():
            if spec.get(theirs) is not None and money(spec[theirs]) is not None:
                price[ours] = money(spec[theirs], 1_000_000)
        needed = ("input",) if mtype == "embedding" else ("input", "output")
        return price if all(k in price for k in needed) else None
    if mtype in ("image-generation", "image-edit"):
        if not entry.images:
            return None
        return {
            **price,
            "unit": "per_image",
            "images": {s: dict(sorted(q.items())) for s, q in sorted(entry.images.items())},
        }
    if mtype == "speech":
        chars = money(spec.get("input_cost_per_character"), 1_000_000)
        return {**price, "unit": "per_million_characters", "characters": chars} if chars else None
    if mtype == "transcription":
        audio = money(spec.get("input_cost_per_second") or spec.get("output_cost_per_second"))
        return {**price, "unit": "per_second", "audio": audio} if audio else None
    video = money(
        spec.get("output_cost_per_second") or spec.get("output_cost_per_video_per_second")
    )
    return {**price, "unit": "per_second", "video": video} if video else None
