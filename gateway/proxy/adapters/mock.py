"""The built-in mock protocol: deterministic answers without network, streamed too."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.catalog.protocols import PROTOCOLS
from gateway.proxy.adapters import mock_chat
from gateway.proxy.adapters.base import VIDEO_ENDPOINTS, Adapter, Call, RealtimeUpstream, Reply

#: The mock carries every native tool: it says it used it and reports one call.
CHUNKS = 4
#: Vector length for models that declare no `dimensions`, and the most the mock returns.
DEFAULT_DIMENSIONS, MAX_DIMENSIONS = 8, 4096

last_user_text = mock_chat.last_user_text  # kept for callers of the earlier name


def answer_text(call: Call) -> str:
    """The text of the first answer (what an echo-only caller wants)."""
    return mock_chat.choices(call)[0].content or ""


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
    endpoints = PROTOCOLS["mock"].endpoints

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
        answers = mock_chat.choices(call)
        return Reply(
            body={
                "id": f"chatcmpl-mock-{call.request_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": call.body["model"],
                "choices": [
                    {
                        "index": i,
                        "finish_reason": a.finish_reason,
                        "logprobs": None,
                        "message": a.message(),
                    }
                    for i, a in enumerate(answers)
                ],
                "usage": mock_chat.usage(call, answers),
            }
        )

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        answers = mock_chat.choices(call)
        base = {
            "id": f"chatcmpl-mock-{call.request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.body["model"],
        }

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict:
            return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

        for i, answer in enumerate(answers):
            yield chunk(
                i, {"role": "assistant", "content": "" if answer.content is not None else None}
            )
            for piece in mock_chat.pieces(answer.content or "", CHUNKS) if answer.content else ():
                yield chunk(i, {"content": piece})
            for k, tool in enumerate(answer.tool_calls):
                # Like OpenAI: the id and name first, then the arguments in pieces.
                yield chunk(
                    i,
                    {
                        "tool_calls": [
                            {
                                "index": k,
                                "id": tool["id"],
                                "type": "function",
                                "function": {"name": tool["function"]["name"], "arguments": ""},
                            }
                        ]
                    },
                )
                for piece in mock_chat.pieces(tool["function"]["arguments"], CHUNKS - 1):
                    yield chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
            yield chunk(i, {}, answer.finish_reason)
        # Like an OpenAI channel, which the proxy asks for usage in every stream unless the
        # channel sets stream_usage: false; clients that did not ask never see this chunk.
        if call.channel.options.get("stream_usage", True) or (
            call.body.get("stream_options") or {}
        ).get("include_usage"):
            yield {**base, "choices": [], "usage": mock_chat.usage(call, answers)}

    def _embeddings(self, call: Call) -> dict[str, Any]:
        raw = call.body.get("input")
        inputs = raw if isinstance(raw, list) else [raw]
        declared = call.model.properties.get("dimensions")
        asked = call.body.get("dimensions") or declared or DEFAULT_DIMENSIONS
        dimensions = min(asked, declared or MAX_DIMENSIONS, MAX_DIMENSIONS)
        data = [
            {"object": "embedding", "index": i, "embedding": unit_vector(str(x), dimensions)}
            for i, x in enumerate(inputs)
        ]
        tokens = sum(mock_chat.words(str(x)) for x in inputs)
        return {
            "object": "list",
            "data": data,
            "model": call.body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


ADAPTER = MockAdapter
