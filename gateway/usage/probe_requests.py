"""The smallest real request of each model type: what `probe` sends to prove a channel
serves a model (a session or job for realtime and video, see probe_sessions.py)."""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import Model
from gateway.proxy.adapters.base import UploadFile

PROBE_TEXT = "ping"


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    endpoint: str
    body: Mapping[str, Any]
    files: Mapping[str, UploadFile]


def silent_wav(seconds: float = 0.2, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV of silence."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def smallest_request(model: Model) -> ProbeRequest | None:
    """The cheapest request that proves a channel serves `model`, or None (not probeable)."""
    base = {"model": model.name}
    if model.type == "chat":
        # Reasoning models refuse max_tokens; every adapter reads either name.
        limit = "max_completion_tokens" if "reasoning" in model.capabilities else "max_tokens"
        return ProbeRequest(
            "chat", {**base, "messages": [{"role": "user", "content": PROBE_TEXT}], limit: 1}, {}
        )
    if model.type == "embedding":
        return ProbeRequest("embeddings", {**base, "input": PROBE_TEXT}, {})
    if model.type == "speech":
        voices = model.properties.get("voices") or {}
        voice = next(iter(voices.values()), "alloy")
        return ProbeRequest("audio.speech", {**base, "input": PROBE_TEXT, "voice": voice}, {})
    if model.type == "transcription":
        audio = UploadFile("probe.wav", silent_wav(), "audio/wav")
        return ProbeRequest("audio.transcriptions", base, {"file": audio})
    if model.type == "image-generation":
        return ProbeRequest("images.generations", {**base, "prompt": "a dot", "n": 1}, {})
    if model.type == "image-edit":
        image = UploadFile("probe.png", _tiny_png(), "image/png")
        return ProbeRequest("images.edits", {**base, "prompt": "a dot", "n": 1}, {"image": image})
    if model.type == "realtime":
        return ProbeRequest("realtime", {**base, "max_frame_bytes": 16 * 1024 * 1024}, {})
    if model.type == "video-generation":
        fields = {**base, "prompt": "a dot"}
        if model.properties.get("durations_s"):
            fields["seconds"] = str(min(model.properties["durations_s"]))
        if model.properties.get("sizes"):
            fields["size"] = model.properties["sizes"][0]
        return ProbeRequest("videos", fields, {})
    return None


def _tiny_png() -> bytes:
    import base64

    return base64.b64decode(  # 1x1 white pixel
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
    )
