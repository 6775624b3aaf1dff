"""A scriptable fake OpenAI-compatible upstream that records every request it receives.

Tests push behaviours (for every request, or for one upstream model) and read back what
reached the upstream. Behaviours: "ok", an HTTP status as int (500, 503, ...), or a dict:
{"status": 429, "retry_after": "2"}, {"status": 400, "error": {...}}, {"stall": "headers"},
{"stall": "body"}, {"cut_after": N} (stream cut after N chunks), {"slow": seconds}.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Behaviour = str | int | dict[str, Any]
MAX_STALL_S = 10.0


class FakeOpenAI:
    """The fake upstream; `app` is its ASGI app, `requests` what it received."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0  # stalled requests whose client (the proxy) went away
        self._script: dict[str | None, deque[Behaviour]] = {}
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def push(self, *behaviours: Behaviour, model: str | None = None) -> None:
        """Queue behaviours for the next requests (only those for `model`, if given)."""
        with self._lock:
            self._script.setdefault(model, deque()).extend(behaviours)

    def release(self) -> None:
        """End every stall now (called before the server stops)."""
        self._released.set()

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if (r["body"] or {}).get("model") == model]

    def _next(self, model: str | None) -> dict[str, Any]:
        with self._lock:
            for key in (model, None):
                queue = self._script.get(key)
                if queue:
                    behaviour = queue.popleft()
                    break
            else:
                behaviour = "ok"
        if behaviour == "ok":
            return {}
        return {"status": behaviour} if isinstance(behaviour, int) else dict(behaviour)

    async def _stall(self, request: Request) -> None:
        end = time.monotonic() + MAX_STALL_S
        try:
            while not self._released.is_set() and time.monotonic() < end:
                if await request.is_disconnected():
                    self.disconnects += 1
                    return
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:  # a streaming response is cancelled on disconnect
            self.disconnects += 1
            raise

    async def _begin(self, request: Request) -> tuple[dict, dict, Response | None]:
        """Record the request and apply the behaviours that happen before an answer."""
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.requests.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": body,
                "raw": raw.decode("utf-8", "replace"),
            }
        )
        behaviour = self._next((body or {}).get("model"))
        if "slow" in behaviour:
            await asyncio.sleep(behaviour["slow"])
        if behaviour.get("stall") == "headers":
            await self._stall(request)
        status = behaviour.get("status")
        if status is None:
            return body, behaviour, None
        headers = {}
        if "retry_after" in behaviour:
            headers["retry-after"] = str(behaviour["retry_after"])
        error = behaviour.get("error") or {
            "message": f"{self.name} says {status}",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return body, behaviour, JSONResponse({"error": error}, status_code=status, headers=headers)

    async def _chat(self, request: Request) -> Response:
        body, behaviour, early = await self._begin(request)
        if early is not None:
            return early
        return self._chat_answer(request, body, behaviour)

    def _chat_answer(self, request: Request, body: dict, behaviour: dict) -> Response:
        """The answer to a chat request whose behaviour did not end it early.

        Behaviours that shape it: `model` (the model name the answer gives), `usage` (the
        usage object it reports, however malformed), `text` (the answer's text).
        """
        text = behaviour.get("text", f"{self.name} answer from {body['model']}")
        answered = behaviour.get("model", body["model"])
        usage: Any = {"prompt_tokens": 5, "completion_tokens": len(text.split()), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage = behaviour.get("usage", usage)
        cites = "web_search_options" in body  # a search model cites what it found
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if cites:
                message["annotations"] = citations(text)
            return Response(
                json.dumps(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": 1,
                        "model": answered,
                        "usage": usage,
                        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                    }
                ),
                media_type="application/json",
            )
        include_usage = (body.get("stream_options") or {}).get("include_usage", False)
        return StreamingResponse(
            self._stream(
                request,
                answered,
                text,
                usage if include_usage else None,
                {"citations": citations(text), **behaviour} if cites else behaviour,
            ),
            media_type="text/event-stream",
        )

    async def _stream(
        self, request: Request, model: str, text: str, usage: dict | None, behaviour: dict
    ):
        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        parts = [chunk({"role": "assistant", "content": ""})]
        parts += [chunk({"content": word + " "}) for word in text.split()]
        if "citations" in behaviour:  # OpenAI streams them in a delta of their own
            parts.append(chunk({"annotations": behaviour["citations"]}))
        parts.append(chunk({}, "stop"))
        if usage is not None or "usage" in behaviour:
            parts.append(
                f"data: {json.dumps({'id': 'chatcmpl-fake', 'object': 'chat.completion.chunk', 'created': 1, 'model': model, 'choices': [], 'usage': usage})}\n\n".encode()
            )
        parts.append(b"data: [DONE]\n\n")
        for i, part in enumerate(parts):
            if behaviour.get("stall") == "body" and i == 1:
                await self._stall(request)
            if "cut_after" in behaviour and i == behaviour["cut_after"]:
                raise ConnectionAbortedError("stream cut on purpose")
            yield part

    async def _embeddings(self, request: Request) -> Response:
        body, _, early = await self._begin(request)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(x), 4)}
            for i, x in enumerate(inputs)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
            }
        )

    async def _models(self, request: Request) -> Response:
        await self._begin(request)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": "fake-model", "object": "model", "created": 1, "owned_by": self.name}
                ],
            }
        )


def citations(text: str) -> list[dict[str, Any]]:
    """The `url_citation` annotations of a search model's answer citing one page."""
    return [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": 0,
                "end_index": len(text),
                "title": "Example",
                "url": "https://example.com/",
            },
        }
    ]


def _vector(text: str, dimensions: int) -> list[float]:
    raw = hashlib.sha256(text.encode()).digest()
    values = [b - 127.5 for b in raw[:dimensions]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
