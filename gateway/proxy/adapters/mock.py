"""The built-in mock protocol: deterministic answers without network, streamed too."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.proxy.adapters.base import VIDEO_ENDPOINTS, Adapter, Call, RealtimeUpstream, Reply

ECHO_CHARS = 200
CHUNKS = 4


def last_user_text(messages: Any) -> str:
    for message in reversed(messages or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def answer_text(call: Call) -> str:
    echo = last_user_text(call.body.get("messages"))[:ECHO_CHARS]
    return f"Mock answer from {call.channel.upstream_model}: {echo}"


def _usage(call: Call, text: str) -> dict[str, int]:
    prompt = sum(_words(_text(m.get("content"))) for m in call.body.get("messages") or ()
                 if isinstance(m, dict))
    completion = _words(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def unit_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector derived from `text`."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(b - 127.5 for b in block)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


class MockAdapter(Adapter):
    """Answers chat with an echo naming the channel's upstream model; embeds by hashing."""

    protocol = "mock"
    endpoints = frozenset({"chat", "embeddings", "images.generations", "images.edits",
                           "audio.speech", "audio.transcriptions", "realtime"}) | VIDEO_ENDPOINTS

    async def realtime_connect(self, call: Call) -> RealtimeUpstream:
        from gateway.proxy.adapters.mock_realtime import MockRealtimeSession

        return MockRealtimeSession(call)

    async def send(self, call: Call) -> Reply:
        if call.endpoint == "embeddings":
            return Reply(body=self._embeddings(call))
        if call.endpoint in VIDEO_ENDPOINTS:
            from gateway.proxy.adapters import mock_video

            return mock_video.reply(call)
        if call.endpoint != "chat":  # images and audio: adapters/mock_media.py
            from gateway.proxy.adapters import mock_media

            if call.endpoint == "audio.speech":
                return mock_media.speech_reply(call)
            if call.endpoint == "audio.transcriptions":
                return mock_media.transcription_reply(call)
            return mock_media.image_reply(call)
        text = answer_text(call)
        return Reply(body={
            "id": f"chatcmpl-mock-{call.request_id}", "object": "chat.completion",
            "created": int(time.time()), "model": call.body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": _usage(call, text)})

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        text = answer_text(call)
        base = {"id": f"chatcmpl-mock-{call.request_id}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": call.body["model"]}
        size = max(1, math.ceil(len(text) / CHUNKS))
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}
        for start in range(0, len(text), size):
            yield {**base, "choices": [{"index": 0, "delta": {"content": text[start:start + size]},
                                        "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        # Like an OpenAI channel, which the proxy asks for usage in every stream unless the
        # channel sets stream_usage: false; clients that did not ask never see this chunk.
        if (call.channel.options.get("stream_usage", True)
                or (call.body.get("stream_options") or {}).get("include_usage")):
            yield {**base, "choices": [], "usage": _usage(call, text)}

    def _embeddings(self, call: Call) -> dict[str, Any]:
        raw = call.body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        dimensions = call.body.get("dimensions") or call.model.properties.get("dimensions") or 8
        data = [{"object": "embedding", "index": i, "embedding": unit_vector(str(x), dimensions)}
                for i, x in enumerate(inputs)]
        tokens = sum(_words(str(x)) for x in inputs)
        return {"object": "list", "data": data, "model": call.body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


ADAPTER = MockAdapter
