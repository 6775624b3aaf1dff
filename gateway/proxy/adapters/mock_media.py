"""Deterministic offline answers of the mock protocol for images, speech and transcription.

Images are small valid PNGs whose colour comes from the request, with usage in gpt-image's
shape (see `image_usage`); speech is a short valid WAV (or raw PCM, or silent MP3 frames)
streamed in a few chunks; a transcription names the size and digest of the audio it got.
Same request, same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
import time
import wave
import zlib
from collections.abc import AsyncIterator
from typing import Any

from gateway.proxy.adapters.base import Call, Reply, UploadFile
from gateway.proxy.media_usage import image_size, wav_seconds
from gateway.usage import vision

PNG_SIDE = 8  # pixels: enough to be a real image, small enough to log
SPEECH_RATE = 24000  # Hz, what OpenAI's speech answers use
SECONDS_PER_CHARACTER = 0.01
SPEECH_CHUNKS = 4
#: One silent MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, mono; 417 bytes long.
MP3_FRAME = b"\xff\xfb\x90\xc0" + bytes(413)
AUDIO_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}
#: Output tokens of one gpt-image-1 image by quality and size (OpenAI's image generation
#: guide); `auto` and other qualities count as medium.
IMAGE_OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
SQUARE = "1024x1024"


def _digest(*parts: bytes | str) -> bytes:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.digest()


def png(seed: bytes, side: int = PNG_SIDE) -> bytes:
    """A `side`×`side` RGB PNG of one colour taken from `seed`."""
    row = b"\0" + seed[:3] * side  # filter byte "none", then the pixels

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * side))
        + chunk(b"IEND", b"")
    )


def _image_item(image: bytes, url: bool, prompt: str) -> dict[str, Any]:
    encoded = base64.b64encode(image).decode()
    item: dict[str, Any] = (
        {"url": "data:image/png;base64," + encoded} if url else {"b64_json": encoded}
    )
    item["revised_prompt"] = prompt
    return item


def _output_tokens(size: str, quality: str) -> int:
    """One image's output tokens: the table's, else the square's scaled by area."""
    by_size = IMAGE_OUTPUT_TOKENS.get(quality, IMAGE_OUTPUT_TOKENS["medium"])
    if size in by_size:
        return by_size[size]
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        return by_size[SQUARE]
    return max(1, round(by_size[SQUARE] * int(width) * int(height) / (1024 * 1024)))


def image_usage(call: Call, count: int) -> dict[str, Any]:
    """Usage in gpt-image's shape, from the request alone: a text token per prompt word (the
    mock's token), each input image (edits) by the vision tile rule on its own size
    (gateway/usage/vision.py), and output tokens per image by size and quality."""
    text = len(str(call.body.get("prompt") or "").split())
    images = sum(
        vision.tokens_for_size(*(vision.image_size(f.content) or vision.UNKNOWN_SIZE))
        for name, f in call.files.items()
        if name.startswith("image")
    )
    quality = str(call.body.get("quality") or "medium")
    output = count * _output_tokens(image_size(call.model, call.body), quality)
    return {
        "input_tokens": text + images,
        "input_tokens_details": {"text_tokens": text, "image_tokens": images},
        "output_tokens": output,
        "total_tokens": text + images + output,
    }


def image_reply(call: Call) -> Reply:
    """`n` PNGs for images.generations or images.edits (seeded by prompt and input images),
    with their usage."""
    body = call.body
    prompt = str(body.get("prompt") or "")
    inputs = [f.content for f in call.files.values()]
    count = int(body.get("n") or 1)
    url = body.get("response_format") == "url"
    data = [
        _image_item(png(_digest(call.channel.upstream_model, prompt, str(i), *inputs)), url, prompt)
        for i in range(count)
    ]
    usage = image_usage(call, count)
    return Reply(body={"created": int(time.time()), "data": data, "usage": usage})


def wav(seconds: float, seed: bytes, rate: int = SPEECH_RATE) -> bytes:
    """A mono 16-bit WAV at `rate` Hz of a quiet tone whose pitch comes from `seed`."""
    frames = max(1, int(rate * seconds))
    pitch = 200 + seed[0] * 2
    samples = (int(3000 * math.sin(2 * math.pi * pitch * i / rate)) for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


def speech_audio(call: Call) -> tuple[bytes, str]:
    """(audio bytes, content type) for a speech call; formats the mock cannot encode get WAV."""
    text = str(call.body.get("input") or "")
    seed = _digest(call.channel.upstream_model, str(call.body.get("voice")), text)
    seconds = min(2.0, max(0.1, len(text) * SECONDS_PER_CHARACTER))
    fmt = str(call.body.get("response_format") or "mp3")
    if fmt == "mp3":
        return MP3_FRAME * max(1, int(seconds * 44100 / 1152)), AUDIO_TYPES["mp3"]
    rate = call.body.get("sample_rate")
    audio = wav(
        seconds, seed, rate if isinstance(rate, int) and 8000 <= rate <= 48000 else SPEECH_RATE
    )
    if fmt == "pcm":
        return audio[44:], AUDIO_TYPES["pcm"]  # the canonical WAV header is 44 bytes
    return audio, AUDIO_TYPES["wav"]


async def _in_chunks(data: bytes, parts: int) -> AsyncIterator[bytes]:
    size = max(1, math.ceil(len(data) / parts))
    for start in range(0, len(data), size):
        yield data[start : start + size]


def speech_reply(call: Call) -> Reply:
    """The speech audio, streamed in a few chunks like an upstream would."""
    audio, content_type = speech_audio(call)
    return Reply(chunks=_in_chunks(audio, SPEECH_CHUNKS), content_type=content_type)


def transcription_text(audio: UploadFile) -> str:
    return (
        f"Mock transcription of {len(audio.content)} bytes of audio "
        f"({hashlib.sha256(audio.content).hexdigest()[:12]})."
    )


def _timestamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    return (
        f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}"
        f"{separator}{millis % 1000:03d}"
    )


def transcription_reply(call: Call) -> Reply:
    """The transcription in the asked `response_format` (json, text, verbose_json, srt, vtt)."""
    audio = call.files.get("file") or UploadFile("audio", b"", "application/octet-stream")
    text = transcription_text(audio)
    seconds = wav_seconds(audio.content)
    duration = float(seconds) if seconds is not None else 1.0
    fmt = call.body.get("response_format") or "json"
    if fmt == "text":
        return Reply(content=text.encode(), content_type="text/plain; charset=utf-8")
    if fmt in ("srt", "vtt"):
        sep = "," if fmt == "srt" else "."
        cue = f"{_timestamp(0, sep)} --> {_timestamp(duration, sep)}\n{text}\n"
        content = f"1\n{cue}" if fmt == "srt" else f"WEBVTT\n\n{cue}"
        return Reply(content=content.encode(), content_type="text/plain; charset=utf-8")
    if fmt == "verbose_json":
        return Reply(
            body={
                "task": "transcribe",
                "language": call.body.get("language") or "english",
                "duration": duration,
                "text": text,
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": duration,
                        "text": text,
                        "tokens": [],
                        "temperature": 0.0,
                        "avg_logprob": 0.0,
                        "compression_ratio": 1.0,
                        "no_speech_prob": 0.0,
                    }
                ],
            }
        )
    return Reply(body={"text": text})
