"""Usage of one request and its cost from the channel's price, in exact decimal arithmetic."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeGuard

from gateway.catalog.snapshot import NativeTool, Price

ZERO = Decimal(0)

#: How many units one price amount is for.
_PER: Mapping[str, Decimal] = MappingProxyType(
    {
        "per_million_tokens": Decimal(1_000_000),
        "per_thousand_tokens": Decimal(1_000),
        "per_million_characters": Decimal(1_000_000),
        "per_thousand_characters": Decimal(1_000),
        "per_second": Decimal(1),
        "per_minute": Decimal(60),  # amounts are per minute; usage is counted in seconds
        "per_hour": Decimal(3600),  # amounts are per hour; usage is counted in seconds
        "per_image": Decimal(1),
        "per_call": Decimal(1),
    }
)

SECONDS_PER_HOUR = Decimal(3600)

#: Characters per token of the documented estimate used when an upstream reports no usage.
CHARS_PER_TOKEN = 4


# Built per request, read-only by convention (frozen costs 4x), each with a compiled
# __init__ rather than the one dataclasses writes in Python (docs/development.md).


@dataclass(slots=True, init=False)
class Usage:
    """What one request used. Token counts follow OpenAI: input includes cached input and
    output includes reasoning tokens."""

    input_tokens: int
    input_image_tokens: int  # of input_tokens, those of images (token-priced image models)
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    output_image_tokens: int  # of output_tokens, those of generated images
    reasoning_tokens: int
    # Realtime: the audio share of input, cached input and output tokens (text is the rest).
    audio_input_tokens: int
    cached_audio_input_tokens: int
    audio_output_tokens: int
    session_seconds: Decimal  # how long a realtime session was open
    images: tuple[tuple[str, str, int], ...]  # (size, quality, count)
    characters: int
    audio_seconds: Decimal
    video_seconds: Decimal
    video_size: str  # the size a per-second video price may depend on
    tool_calls: Mapping[str, int]  # native tool -> calls
    estimated: bool

    def __init__(
        self,
        input_tokens: int = 0,
        input_image_tokens: int = 0,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        output_tokens: int = 0,
        output_image_tokens: int = 0,
        reasoning_tokens: int = 0,
        audio_input_tokens: int = 0,
        cached_audio_input_tokens: int = 0,
        audio_output_tokens: int = 0,
        session_seconds: Decimal = ZERO,
        images: tuple[tuple[str, str, int], ...] = (),
        characters: int = 0,
        audio_seconds: Decimal = ZERO,
        video_seconds: Decimal = ZERO,
        video_size: str = "",
        tool_calls: Mapping[str, int] | None = None,
        estimated: bool = False,
    ) -> None:
        self.input_tokens = input_tokens
        self.input_image_tokens = input_image_tokens
        self.cached_input_tokens = cached_input_tokens
        self.cache_write_tokens = cache_write_tokens
        self.output_tokens = output_tokens
        self.output_image_tokens = output_image_tokens
        self.reasoning_tokens = reasoning_tokens
        self.audio_input_tokens = audio_input_tokens
        self.cached_audio_input_tokens = cached_audio_input_tokens
        self.audio_output_tokens = audio_output_tokens
        self.session_seconds = session_seconds
        self.images = images
        self.characters = characters
        self.audio_seconds = audio_seconds
        self.video_seconds = video_seconds
        self.video_size = video_size
        self.tool_calls = {} if tool_calls is None else tool_calls
        self.estimated = estimated

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in the usage log (zero fields left out)."""
        out: dict[str, Any] = {}
        for name in (
            "input_tokens",
            "input_image_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "output_image_tokens",
            "reasoning_tokens",
            "audio_input_tokens",
            "cached_audio_input_tokens",
            "audio_output_tokens",
            "characters",
        ):
            if value := getattr(self, name):
                out[name] = value
        if self.audio_seconds:
            out["audio_seconds"] = str(self.audio_seconds)
        if self.video_seconds:
            out["video_seconds"] = str(self.video_seconds)
        if self.video_size:
            out["video_size"] = self.video_size
        if self.session_seconds:
            out["session_seconds"] = str(self.session_seconds)
        if self.images:
            out["images"] = [{"size": s, "quality": q, "count": n} for s, q, n in self.images]
        if self.tool_calls:
            out["tool_calls"] = dict(sorted(self.tool_calls.items()))
        if self.estimated:
            out["estimated"] = True
        return out


#: More tokens than any one request can use: an upstream's count beyond it is clamped.
MAX_COUNT = 10**9


def count(value: Any) -> int | None:
    """An upstream's token count as a non-negative int (clamped), or None if it is no number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return min(max(int(value), 0), MAX_COUNT)


def is_mapping(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """`isinstance(value, Mapping)`, answered at once for a dict or None: against an ABC,
    `isinstance` calls `ABCMeta.__instancecheck__`, a Python function, for either."""
    if value is None:
        return False
    return type(value) is dict or isinstance(value, Mapping)


def usage_from_openai(usage: Any) -> Usage | None:
    """Read an OpenAI `usage` object (chat or embeddings), as the upstream reported it.

    Counts are clamped to 0..MAX_COUNT; a usage that is not an object of numbers is no
    report at all (None: the request's usage is then estimated), never an error.
    """
    if not usage or not is_mapping(usage):
        return None
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    if (
        type(prompt) is int
        and type(completion) is int
        and 0 <= prompt <= MAX_COUNT
        and 0 <= completion <= MAX_COUNT
        and not usage.get("prompt_tokens_details")
        and not usage.get("completion_tokens_details")
    ):
        return Usage(input_tokens=prompt, output_tokens=completion)  # the usual report
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    if not isinstance(prompt_details, Mapping) or not isinstance(completion_details, Mapping):
        return None
    counts = [
        count(value or 0)
        for value in (
            usage.get("prompt_tokens"),
            prompt_details.get("cached_tokens"),
            prompt_details.get("cache_write_tokens"),
            usage.get("completion_tokens"),
            completion_details.get("reasoning_tokens"),
        )
    ]
    if None in counts:
        return None
    input_tokens, cached, cache_write, output_tokens, reasoning = (c or 0 for c in counts)
    return Usage(
        input_tokens=input_tokens,
        cached_input_tokens=cached,
        cache_write_tokens=cache_write,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
    )


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text of the request used for the input estimate (never logged)."""
    if "input" in body:
        value = body["input"]
        return value if isinstance(value, str) else " ".join(map(str, value))
    parts: list[str] = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                p["text"]
                for p in content
                if isinstance(p, Mapping) and isinstance(p.get("text"), str) and p["text"]
            )
    return " ".join(parts)


def estimate_tokens(text: str) -> int:
    """The documented estimate: one token per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


@dataclass(slots=True, init=False)
class Cost:
    amount: Decimal
    currency: str
    _text: str | None = field(init=False, repr=False, compare=False)

    def __init__(self, amount: Decimal, currency: str) -> None:
        self.amount = amount
        self.currency = currency
        self._text = None

    def text(self) -> str:
        """Plain decimal notation, never an exponent: "0.000125" (formatted once: the header
        and the usage log both need it)."""
        if self._text is None:
            self._text = format(self.amount.normalize(), "f") if self.amount else "0"
        return self._text


def cost_of(
    usage: Usage, price: Price | None, native_tools: Mapping[str, NativeTool] = MappingProxyType({})
) -> Cost | None:
    """Cost of `usage` at `price`, plus native tool calls at their per-call price.

    None when the channel has no price. Native tools priced in another currency than the
    channel are left out rather than summed across currencies.
    """
    if price is None:
        return None
    amount = _metered(usage, price) / _PER[price.unit]
    if usage.session_seconds and "session_hour" in price.amounts:
        amount += price.amounts["session_hour"] * usage.session_seconds / SECONDS_PER_HOUR
    for tool, calls in usage.tool_calls.items():
        spec = native_tools.get(tool)
        if spec and spec.price_per_call is not None and spec.currency == price.currency:
            amount += spec.price_per_call * calls
    return Cost(amount, price.currency)


def _metered(usage: Usage, price: Price) -> Decimal:
    """Units used times amounts, before dividing by the price's unit size."""
    a = price.amounts
    if price.unit == "per_call":
        return a.get("call", ZERO)
    if price.unit == "per_image":
        return sum(
            (_image_price(price, size, quality) * n for size, quality, n in usage.images), ZERO
        )
    if price.unit.endswith("_characters"):
        return a.get("characters", ZERO) * usage.characters
    if price.unit in ("per_second", "per_minute", "per_hour"):
        video_rate = price.videos.get(usage.video_size, a.get("video", ZERO))
        return a.get("audio", ZERO) * usage.audio_seconds + video_rate * usage.video_seconds
    uncached = max(
        0,
        usage.input_tokens
        - usage.cached_input_tokens
        - usage.cache_write_tokens
        - usage.input_image_tokens,
    )
    audio_uncached = min(
        uncached, max(0, usage.audio_input_tokens - usage.cached_audio_input_tokens)
    )
    cached_audio = min(usage.cached_input_tokens, usage.cached_audio_input_tokens)
    audio_output = min(usage.output_tokens, usage.audio_output_tokens)
    text_output = max(0, usage.output_tokens - audio_output - usage.output_image_tokens)
    reasoning = usage.reasoning_tokens if "reasoning" in a else 0
    # Most counts are 0 (no audio, images or cache): each rate is looked up (`amounts` is a
    # mappingproxy, whose `get` is a method call) and multiplied only for a count that is not.
    input_rate = a.get("input", ZERO)
    output_rate = a.get("output", ZERO)
    total = ZERO
    if uncached > audio_uncached:
        total += input_rate * (uncached - audio_uncached)
    if audio_uncached:
        total += a.get("audio_input", input_rate) * audio_uncached
    if usage.input_image_tokens:
        total += a.get("input_image", input_rate) * usage.input_image_tokens
    if usage.cached_input_tokens:
        cached_rate = a.get("cached_input", input_rate)
        if usage.cached_input_tokens > cached_audio:
            total += cached_rate * (usage.cached_input_tokens - cached_audio)
        if cached_audio:
            total += a.get("cached_audio_input", cached_rate) * cached_audio
    if usage.cache_write_tokens:
        total += a.get("cache_write", input_rate) * usage.cache_write_tokens
    if audio_output:
        total += a.get("audio_output", output_rate) * audio_output
    if usage.output_image_tokens:
        total += a.get("output_image", output_rate) * usage.output_image_tokens
    if reasoning:
        total += a["reasoning"] * reasoning
    if text_output > reasoning:
        total += output_rate * (text_output - reasoning)
    return total


def _image_price(price: Price, size: str, quality: str) -> Decimal:
    """Price of one image; an unknown size or quality falls back to "auto"/"standard"."""
    by_quality = price.images.get(size) or price.images.get("auto") or {}
    if quality in by_quality:
        return by_quality[quality]
    for fallback in ("standard", "auto", "medium"):
        if fallback in by_quality:
            return by_quality[fallback]
    return max(by_quality.values(), default=ZERO)
