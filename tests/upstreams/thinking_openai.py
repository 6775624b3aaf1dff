"""A fake OpenAI-compatible upstream with a thinking switch: Volcengine Ark or DashScope style.

Ark reads `thinking: {type}`, DashScope reads `enable_thinking`; when thinking is on the
answer carries `reasoning_content` (or, with `inline_think`, a `<think>` block at the start
of the content, the way some hosted reasoning models answer). It calls the first declared
tool natively, or, when the system prompt asks for simulated tool calls, answers the JSON
the prompt asks for. It records every request and answers scripted errors pushed by `fail`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REASONING = "The user greets me; I should introduce myself briefly."
ANSWER = "Hello! I am a large language model."
KEYS = {"volcengine": "ark-test-key", "dashscope": "sk-dashscope-test"}


class FakeThinking:
    """`flavour` is "volcengine" or "dashscope"; `app` serves under `prefix`."""

    def __init__(self, flavour: str, prefix: str) -> None:
        self.flavour = flavour
        self.requests: list[dict[str, Any]] = []
        self.inline_think = False
        self._errors: deque[tuple[int, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/chat/completions", self._chat, methods=["POST"]),
                Route(f"{prefix}/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    def fail(self, status: int, body: dict[str, Any]) -> None:
        with self._lock:
            self._errors.append((status, body))

    async def _begin(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = json.loads(await request.body())
        self.requests.append(
            {"path": request.url.path, "headers": dict(request.headers), "body": body}
        )
        with self._lock:
            failure = self._errors.popleft() if self._errors else None
        if failure:
            return body, JSONResponse(failure[1], status_code=failure[0])
        if request.headers.get("authorization") != f"Bearer {KEYS[self.flavour]}":
            return body, JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        return body, None

    def thinking_on(self, body: dict[str, Any]) -> bool:
        if self.flavour == "volcengine":
            return (body.get("thinking") or {}).get("type") == "enabled"
        return bool(body.get("enable_thinking"))

    async def _chat(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        message = self.message(body)
        if body.get("stream"):
            include = (body.get("stream_options") or {}).get("include_usage")
            return StreamingResponse(
                _stream(message, body["model"], include), media_type="text/event-stream"
            )
        return JSONResponse(
            {
                "id": "chatcmpl-t1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": usage(message),
            }
        )

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        system = " ".join(
            m["content"]
            for m in messages
            if m.get("role") == "system" and isinstance(m.get("content"), str)
        )
        if last.get("role") == "tool" or "Tool result of" in str(last.get("content")):
            text = f"Done: {last.get('content')}"
        elif body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            return {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_t1",
                        "type": "function",
                        "index": 0,
                        "function": {"name": name, "arguments": '{"city": "Hangzhou"}'},
                    }
                ],
            }
        elif '{"tool_calls"' in system:
            name = system.split('"name": "', 1)[1].split('"', 1)[0]
            text = json.dumps({"tool_calls": [{"name": name, "arguments": {"city": "Hangzhou"}}]})
        else:
            text = ANSWER
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self.thinking_on(body):
            if self.inline_think:
                message["content"] = f"<think>\n{REASONING}\n</think>\n\n{text}"
            else:
                message["reasoning_content"] = REASONING
        return message

    async def _embeddings(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse(
            {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": [float(len(str(x))), float(i)]}
                    for i, x in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": 2 * len(inputs), "total_tokens": 2 * len(inputs)},
            }
        )


def usage(message: dict[str, Any]) -> dict[str, Any]:
    reasoning = len((message.get("reasoning_content") or "").split())
    completion = len((message.get("content") or "").split()) + reasoning
    return {
        "prompt_tokens": 9,
        "completion_tokens": completion,
        "total_tokens": 9 + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _stream(message: dict[str, Any], model: str, include_usage: bool):
    def event(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )
        data = {
            "id": "chatcmpl-t2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    yield event({"role": "assistant", "content": ""})
    for piece in _pieces(message.get("reasoning_content") or ""):
        yield event({"content": None, "reasoning_content": piece})
    for piece in _pieces(message.get("content") or ""):
        yield event({"content": piece})
    if message.get("tool_calls"):
        yield event({"tool_calls": message["tool_calls"]})
    yield event({}, "tool_calls" if message.get("tool_calls") else "stop")
    if include_usage:
        yield event(None, usage=usage(message))
    yield b"data: [DONE]\n\n"


CAPABILITIES = ["streaming", "tools", "reasoning", "json_object", "stream_function_call"]


def catalog(
    flavour: str, base_url: str, *, model_name: str, upstream_model: str, key_env: str
) -> dict[str, Any]:
    """A snapshot with one provider of `flavour` and a model per thinking option:
    `{model_name}` (auto), `-on` (enabled), `-off` (disabled), `-split` (reasoning split),
    `-merge` (reasoning merge), `-sim` (function_call_simulate), `-batch` (embeddings, 2)."""
    from tests.conftest import KEY_ALICE, channel, consumer, model, provider, snapshot_dict

    variants = {
        "": {},
        "-on": {"thinking": "enabled"},
        "-off": {"thinking": "disabled"},
        "-split": {"reasoning": "split"},
        "-merge": {"reasoning": "merge"},
        "-sim": {"function_call_simulate": True},
    }
    models = [model(model_name + v, capabilities=CAPABILITIES) for v in variants]
    channels = [
        channel(
            f"ch{v or '-auto'}", model_name + v, flavour, upstream_model=upstream_model, options=o
        )
        for v, o in variants.items()
    ]
    models.append(model(model_name + "-embed", type="embedding", capabilities=[]))
    channels.append(
        channel(
            "ch-embed",
            model_name + "-embed",
            flavour,
            upstream_model="embed-1",
            options={"batch_size": 2},
        )
    )
    return snapshot_dict(
        providers=[
            provider(
                flavour,
                protocol=flavour,
                base_url=base_url,
                auth={"type": "bearer", "token": "${" + key_env + "}"},
            )
        ],
        models=models,
        channels=channels,
        consumers=[consumer("alice", KEY_ALICE)],
    )
