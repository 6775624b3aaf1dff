"""A fake Gemini API (v1beta) on loopback, answering like the documented REST examples.

It records every request (path, query, headers, JSON body). Answers depend on the request:
a function call when tools are declared and no function response came back yet, a sentence
about the result when one did, a description of an inline image, a thought part when
thoughts were asked for. Scripted errors are pushed with `fail(status, rpc_status, ...)`.
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

PLAIN = "AI learns patterns from examples to make predictions."
THOUGHT = "The user wants a short answer about how AI works."
USAGE = {
    "promptTokenCount": 8,
    "candidatesTokenCount": 10,
    "totalTokenCount": 18,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
}


class FakeGemini:
    """The fake upstream; `app` is its ASGI app, `requests` what it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._errors: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self.stream_pieces = 3  # events a streamed text answer is cut into
        self.app = Starlette(
            routes=[Route("/v1beta/{target:path}", self._handle, methods=["POST"])]
        )

    def fail(
        self,
        status: int,
        rpc_status: str,
        message: str,
        *,
        details: list | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next request with this Google API error."""
        error = {"code": status, "message": message, "status": rpc_status}
        if details:
            error["details"] = details
        with self._lock:
            self._errors.append((status, {"error": error}, headers or {}))

    async def _handle(self, request: Request) -> Response:
        body = json.loads(await request.body())
        target = request.path_params["target"]
        self.requests.append(
            {
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        with self._lock:
            failure = self._errors.popleft() if self._errors else None
        if failure:
            status, error, headers = failure
            return JSONResponse(error, status_code=status, headers=headers)
        model, _, method = target.partition(":")
        if method == "batchEmbedContents":
            return JSONResponse(embeddings(body))
        if method == "generateContent":
            return JSONResponse(answer(body, model))
        if method == "streamGenerateContent" and request.query_params.get("alt") == "sse":
            return StreamingResponse(self._events(body, model), media_type="text/event-stream")
        return JSONResponse(
            {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}, status_code=404
        )

    async def _events(self, body: dict[str, Any], model: str):
        for event in stream_events(answer(body, model), self.stream_pieces):
            yield f"data: {json.dumps(event)}\r\n\r\n".encode()


def _last_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents") or [{}]
    return contents[-1].get("parts") or []


def reply_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the model "says" to this request, as Gemini parts."""
    last = _last_parts(body)
    responses = [p["functionResponse"] for p in last if "functionResponse" in p]
    images = [p["inlineData"] for p in last if "inlineData" in p]
    files = [p["fileData"] for p in last if "fileData" in p]
    parts: list[dict[str, Any]] = []
    if (body.get("generationConfig") or {}).get("thinkingConfig", {}).get("includeThoughts"):
        parts.append({"text": THOUGHT, "thought": True})
    if responses:
        parts.append(
            {
                "text": f"The {responses[0]['name']} tool says: "
                f"{json.dumps(responses[0]['response'], sort_keys=True)}"
            }
        )
    elif (
        _declarations(body)
        and body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode") != "NONE"
    ):
        declaration = _declarations(body)[0]
        parts.append(
            {
                "functionCall": {"name": declaration["name"], "args": {"location": "London"}},
                "thoughtSignature": "c2lnbmF0dXJl",
            }
        )
    elif images:
        parts.append(
            {
                "text": f"An image of type {images[0]['mimeType']}, "
                f"{len(images[0]['data'])} base64 characters."
            }
        )
    elif files:
        parts.append({"text": f"A picture from {files[0]['fileUri']}."})
    else:
        parts.append({"text": PLAIN})
    return parts


def _declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]


#: What a grounded answer carries (the documented google_search example, shortened).
GROUNDING = {
    "webSearchQueries": ["UEFA Euro 2024 winner"],
    "searchEntryPoint": {"renderedContent": "<div>...</div>"},
    "groundingChunks": [
        {"web": {"uri": "https://vertexaisearch.cloud.google.com/x", "title": "uefa.com"}}
    ],
    "groundingSupports": [
        {
            "segment": {"startIndex": 0, "endIndex": 10, "text": "Spain won"},
            "groundingChunkIndices": [0],
        }
    ],
}


def answer(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A generateContent answer shaped like the documented example responses; grounded
    (with `groundingMetadata`) when the google_search tool was given."""
    parts = reply_parts(body)
    thoughts = sum(len(p["text"].split()) for p in parts if p.get("thought"))
    usage = {**USAGE, "thoughtsTokenCount": thoughts} if thoughts else dict(USAGE)
    usage["totalTokenCount"] += thoughts
    candidate: dict[str, Any] = {
        "content": {"parts": parts, "role": "model"},
        "finishReason": "STOP",
        "index": 0,
        "avgLogprobs": -0.05,
    }
    if any("google_search" in t for t in body.get("tools") or ()):
        candidate["groundingMetadata"] = GROUNDING
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "mcT3aOmxFqbQ-8YP",
    }


def stream_events(whole: dict[str, Any], pieces: int) -> list[dict[str, Any]]:
    """The same answer as streamGenerateContent sends it: text cut into several events,
    usage on every event, finishReason on the last."""
    candidate = whole["candidates"][0]
    events: list[dict[str, Any]] = []
    for part in candidate["content"]["parts"]:
        if "text" not in part:
            events.append({"parts": [part]})
            continue
        text = part["text"]
        step = max(1, -(-len(text) // pieces))
        for i in range(0, len(text), step):
            piece = {**part, "text": text[i : i + step]}
            events.append({"parts": [piece]})
    out = []
    for i, event in enumerate(events):
        cand: dict[str, Any] = {"content": {"parts": event["parts"], "role": "model"}, "index": 0}
        if i == len(events) - 1:
            cand["finishReason"] = "STOP"
            if "groundingMetadata" in candidate:  # grounding comes with the last event
                cand["groundingMetadata"] = candidate["groundingMetadata"]
        out.append(
            {
                "candidates": [cand],
                "usageMetadata": whole["usageMetadata"],
                "modelVersion": whole["modelVersion"],
                "responseId": whole["responseId"],
            }
        )
    return out


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    out = []
    for request in body["requests"]:
        text = request["content"]["parts"][0]["text"]
        size = request.get("outputDimensionality") or 3
        out.append({"values": [round(0.1 * (len(text) + k), 3) for k in range(size)]})
    return {"embeddings": out}
