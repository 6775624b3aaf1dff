"""The mock protocol's realtime sessions: deterministic events in-process, no network.

A `response.create` is answered with text deltas that echo the last user message, a short
generated audio delta (PCM16, 24 kHz) when the session or response asks for audio, and a
`response.done` whose usage counts words as tokens. Events are spelled in the GA form, or
the beta form when the client connected with `OpenAI-Beta: realtime=v1`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from typing import Any

from gateway.proxy.adapters.base import Call

AUDIO_RATE = 24000
AUDIO_SECONDS = 0.1
DELTAS = 3
AUDIO_TOKENS = 10  # what the short audio delta counts as output
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def pcm16(seconds: float = AUDIO_SECONDS, pitch: float = 440.0) -> bytes:
    """A quiet tone as little-endian 16-bit mono samples at 24 kHz (the protocol's pcm16)."""
    frames = int(AUDIO_RATE * seconds)
    return b"".join(
        struct.pack("<h", int(2000 * math.sin(2 * math.pi * pitch * i / AUDIO_RATE)))
        for i in range(frames)
    )


def _text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return " ".join(
        str(p.get("text") or p.get("transcript") or "") for p in content if isinstance(p, dict)
    )


class MockRealtimeSession:
    """Implements `RealtimeUpstream`: events are answered as they are sent."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.beta = bool(call.body.get("beta"))
        self.session: dict[str, Any] = {
            "id": f"sess_mock_{call.request_id}",
            "object": "realtime.session",
            "model": call.channel.upstream_model,
            "instructions": "",
            "tools": [],
        }
        if not self.beta:
            self.session["type"] = "realtime"
        self.items: list[dict[str, Any]] = []
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.count = 0
        self.closed = False
        self._emit("session.created", session=dict(self.session))

    def _emit(self, kind: str, **fields: Any) -> None:
        self.count += 1
        self.queue.put_nowait(
            _encode({"type": kind, "event_id": f"event_mock_{self.count}", **fields})
        )

    async def send(self, text: str) -> None:
        if self.closed:
            raise ConnectionResetError("the mock session is closed")
        try:
            event = json.loads(text)
        except ValueError:
            self._error("invalid_json", "the event is not valid JSON")
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "session.update" and isinstance(event.get("session"), dict):
            self.session.update(event["session"])
            self._emit("session.updated", session=dict(self.session))
        elif kind == "conversation.item.create" and isinstance(event.get("item"), dict):
            item = {"id": f"item_mock_{len(self.items) + 1}", **event["item"]}
            self.items.append(item)
            self._emit(
                "conversation.item.created" if self.beta else "conversation.item.added",
                previous_item_id=None,
                item=item,
            )
        elif kind == "response.create":
            self._respond(event.get("response") if isinstance(event.get("response"), dict) else {})
        elif kind is None:
            self._error("invalid_event", "the event has no type")

    def _error(self, code: str, message: str) -> None:
        self._emit(
            "error",
            error={
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": None,
                "event_id": None,
            },
        )

    def _last_user_text(self) -> str:
        for item in reversed(self.items):
            if item.get("role") == "user":
                return _text(item.get("content"))
            if item.get("type") == "function_call_output":
                return f"tool said {item.get('output')}"
        return ""

    def _respond(self, config: dict[str, Any]) -> None:
        n = self.count
        rid, iid = f"resp_mock_{n}", f"item_mock_out_{n}"
        modalities = (
            config.get("output_modalities")
            or config.get("modalities")
            or self.session.get("output_modalities")
            or self.session.get("modalities")
            or ["text"]
        )
        text = f"Mock answer from {self.call.channel.upstream_model}: {self._last_user_text()}"
        where = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        self._emit(
            "response.created",
            response={
                "id": rid,
                "object": "realtime.response",
                "status": "in_progress",
                "output": [],
            },
        )
        item = {
            "id": iid,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text}],
        }
        self._emit(
            "response.output_item.added",
            response_id=rid,
            output_index=0,
            item={**item, "status": "in_progress", "content": []},
        )
        size = max(1, math.ceil(len(text) / DELTAS))
        delta = "response.text.delta" if self.beta else "response.output_text.delta"
        for start in range(0, len(text), size):
            self._emit(delta, **where, delta=text[start : start + size])
        self._emit(
            "response.text.done" if self.beta else "response.output_text.done", **where, text=text
        )
        audio = "audio" in modalities
        if audio:
            self._emit(
                "response.audio.delta" if self.beta else "response.output_audio.delta",
                **where,
                delta=base64.b64encode(pcm16()).decode(),
            )
        self._emit("response.output_item.done", response_id=rid, output_index=0, item=item)
        self._emit(
            "response.done",
            response={
                "id": rid,
                "object": "realtime.response",
                "status": "completed",
                "output": [item],
                "usage": self._usage(text, audio),
            },
        )

    def _usage(self, text: str, audio: bool) -> dict[str, Any]:
        prompt = " ".join(
            [str(self.session.get("instructions") or "")]
            + [_text(i.get("content")) for i in self.items]
        )
        input_tokens = len(prompt.split())
        text_out = len(text.split())
        audio_out = AUDIO_TOKENS if audio else 0
        return {
            "total_tokens": input_tokens + text_out + audio_out,
            "input_tokens": input_tokens,
            "output_tokens": text_out + audio_out,
            "input_token_details": {
                "text_tokens": input_tokens,
                "audio_tokens": 0,
                "cached_tokens": 0,
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }

    async def receive(self) -> str | None:
        if self.closed and self.queue.empty():
            return None
        return await self.queue.get()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
