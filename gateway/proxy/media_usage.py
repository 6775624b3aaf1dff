"""What one images or audio request used, in the units the price books charge.

Images count by (size, quality); speech counts input characters; transcription counts audio
seconds, taken from the upstream's `duration` (verbose_json) or `usage.seconds` when it
reports one, else from the upload's WAV header (marked estimated), else unknown: zero
seconds marked estimated.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.catalog.snapshot import Model
from gateway.proxy.adapters.base import Reply, UploadFile
from gateway.usage.pricing import Usage

#: Quality recorded when the client names none; pricing falls back to the model's default.
DEFAULT_QUALITY = "auto"


def wav_seconds(data: bytes) -> Decimal | None:
    """Length of a WAV file from its header, or None when `data` is not one."""
    if not data.startswith(b"RIFF") or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            rate = reader.getframerate()
            frames = reader.getnframes()
    except (wave.Error, EOFError):
        return None
    return (Decimal(frames) / Decimal(rate)).quantize(Decimal("0.001")) if rate else None


def image_size(model: Model, body: Mapping[str, Any]) -> str:
    """The size asked for, or the model's first listed size (the catalog's default)."""
    size = body.get("size")
    if size:
        return str(size)
    sizes = model.properties.get("sizes") or ()
    return str(sizes[0]) if sizes else "auto"


def _transcription_seconds(reply: Reply, files: Mapping[str, UploadFile]) -> Usage:
    body = reply.body or {}
    duration = body.get("duration")
    usage = body.get("usage")
    if duration is None and isinstance(usage, Mapping) and usage.get("type") == "duration":
        duration = usage.get("seconds")  # newer transcription models report usage this way
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0:
        return Usage(audio_seconds=Decimal(str(duration)))
    audio = files.get("file")
    seconds = wav_seconds(audio.content) if audio is not None else None
    return Usage(audio_seconds=seconds or Decimal(0), estimated=True)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def image_tokens(
    reply: Mapping[str, Any] | None, images: tuple[tuple[str, str, int], ...]
) -> Usage:
    """Images by (size, quality), with the token counts that token-priced image models
    (gpt-image-1) bill, from the upstream's `usage` (input text and image tokens, output
    image tokens); models priced per image report none and need none."""
    usage = (reply or {}).get("usage")
    if isinstance(usage, Mapping):
        details = usage.get("input_tokens_details")
        details = details if isinstance(details, Mapping) else {}
        output = _count(usage.get("output_tokens"))
        return Usage(
            input_tokens=_count(usage.get("input_tokens")),
            input_image_tokens=_count(details.get("image_tokens")),
            output_tokens=output,
            output_image_tokens=output,
            images=images,
        )
    return Usage(images=images)


def media_usage(
    endpoint: str,
    model: Model,
    body: Mapping[str, Any],
    files: Mapping[str, UploadFile],
    reply: Reply,
) -> Usage:
    """Usage of a media request from what the client asked (`body` after policy) and got."""
    if endpoint in ("images.generations", "images.edits"):
        data = (reply.body or {}).get("data")
        count = len(data) if isinstance(data, list) else int(body.get("n") or 1)
        quality = str(body.get("quality") or DEFAULT_QUALITY)
        images = ((image_size(model, body), quality, count),)
        return image_tokens(reply.body, images)
    if endpoint == "audio.speech":
        return Usage(characters=len(str(body.get("input") or "")))
    if endpoint == "audio.transcriptions":
        return _transcription_seconds(reply, files)
    return Usage()
