"""Request and stream shapes of the proxy benchmark, beyond its first small ones.

Deterministic (seeded), so every target gets the same bytes in every run.
"""

from __future__ import annotations

import json
import random
from typing import Any

_WORDS = (
    "the",
    "model",
    "request",
    "stream",
    "token",
    "answer",
    "agent",
    "tool",
    "file",
    "line",
    "value",
    "error",
    "cache",
    "proxy",
    "upstream",
    "client",
    "usage",
    "cost",
)


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def _tool(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": f"tool_{index}",
            "description": _text(rng, 200),
            "parameters": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": _text(rng, 60)},
                    "limit": {"type": "integer", "description": _text(rng, 40)},
                    "mode": {"type": "string", "enum": ["read", "write", "append"]},
                },
                "required": ["path"],
            },
        },
    }


def request(model: str, shape: str) -> dict[str, Any]:
    """`multiturn`: ~1 KB, a system message and three turns. `agent`: ~64 KB, a system
    message, a long history of user, assistant tool calls and tool results, 20 tools."""
    rng = random.Random(shape)
    system = {"role": "system", "content": "You are a helpful assistant. " + _text(rng, 200)}
    if shape == "multiturn":
        messages = [system]
        for _ in range(3):
            messages += [
                {"role": "user", "content": _text(rng, 80)},
                {"role": "assistant", "content": _text(rng, 80)},
            ]
        messages.append({"role": "user", "content": _text(rng, 60)})
        return {"model": model, "max_tokens": 256, "temperature": 0.2, "messages": messages}
    if shape != "agent":
        raise ValueError(f"unknown request shape {shape!r}")
    messages = [{"role": "system", "content": "You are a coding agent. " + _text(rng, 2000)}]
    turn = 0
    while len(json.dumps(messages)) < 52_000:
        call_id = f"call_{turn:04d}"
        messages += [
            {"role": "user", "content": _text(rng, 300)},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": f"tool_{turn % 20}",
                            "arguments": json.dumps({"path": f"src/{_text(rng, 20)}.py"}),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": _text(rng, 1200)},
            {"role": "assistant", "content": _text(rng, 200)},
        ]
        turn += 1
    messages.append({"role": "user", "content": _text(rng, 200)})
    return {
        "model": model,
        "max_tokens": 1024,
        "messages": messages,
        "tools": [_tool(rng, i) for i in range(20)],
        "tool_choice": "auto",
    }


def openai_stream(events: int = 200) -> str:
    """An SSE answer as OpenAI sends it with include_usage: `"usage": null` on every chunk,
    a role chunk, content chunks, a finish chunk, the usage chunk, then [DONE]."""
    head = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "bench-upstream",
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            **head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }
        return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n"

    rng = random.Random("openai-stream")
    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": " " + rng.choice(_WORDS)}) for _ in range(events - 3)]
    out.append(chunk({}, "stop"))
    usage = {
        "prompt_tokens": 1200,
        "completion_tokens": events - 3,
        "total_tokens": 1397,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    out.append(
        "data: "
        + json.dumps({**head, "choices": [], "usage": usage}, separators=(",", ":"))
        + "\n\n"
    )
    out.append("data: [DONE]\n\n")
    return "".join(out)
