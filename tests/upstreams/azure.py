"""A fake Azure OpenAI resource on loopback, answering like the documented REST examples.

Deployment routes (`/openai/deployments/{name}/…?api-version=…`) and the v1 routes
(`/openai/v1/…`). It checks the `api-key` header, knows its deployments, records every
request, refuses prompts containing BLOCKED with Azure's content filter error, and answers
a scripted error when one is pushed with `fail`.
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

API_KEY = "azure-test-key-0123"
DEPLOYMENTS = ("gpt-4o-prod", "embed-large")
ANSWER = "Azure says hello."
FILTERS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
USAGE = {
    "prompt_tokens": 13,
    "completion_tokens": 4,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 0},
}


class FakeAzure:
    """The fake resource; `app` is its ASGI app, `requests` what it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._errors: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(
                    "/openai/deployments/{deployment}/{operation:path}",
                    self._deployment,
                    methods=["POST"],
                ),
                Route("/openai/v1/{operation:path}", self._v1, methods=["POST"]),
            ]
        )

    def fail(
        self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self._errors.append((status, {"error": error}, headers or {}))

    async def _record(self, request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        self.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "body": body,
            }
        )
        return body

    def _refusal(self, request: Request, deployment: str | None) -> Response | None:
        with self._lock:
            failure = self._errors.popleft() if self._errors else None
        if failure:
            status, error, headers = failure
            return JSONResponse(error, status_code=status, headers=headers)
        if request.headers.get("api-key") != API_KEY:
            return JSONResponse(
                {
                    "error": {
                        "code": "401",
                        "message": (
                            "Access denied due to invalid subscription key or wrong API endpoint."
                        ),
                    }
                },
                status_code=401,
            )
        if deployment not in DEPLOYMENTS:
            return JSONResponse(
                {
                    "error": {
                        "code": "DeploymentNotFound",
                        "message": ("The API deployment for this resource does not exist."),
                    }
                },
                status_code=404,
            )
        return None

    async def _deployment(self, request: Request) -> Response:
        body = await self._record(request)
        if "api-version" not in request.query_params:
            return JSONResponse(
                {"error": {"code": "404", "message": "Resource not found"}}, status_code=404
            )
        deployment = request.path_params["deployment"]
        refusal = self._refusal(request, deployment)
        return refusal or self._answer(request.path_params["operation"], body, deployment)

    async def _v1(self, request: Request) -> Response:
        body = await self._record(request)
        refusal = self._refusal(request, body.get("model"))
        return refusal or self._answer(request.path_params["operation"], body, body["model"])

    def _answer(self, operation: str, body: dict[str, Any], deployment: str) -> Response:
        if operation == "embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return JSONResponse(
                {
                    "object": "list",
                    "model": "text-embedding-3-large",
                    "data": [
                        {"object": "embedding", "index": i, "embedding": [float(len(x)), 1.0]}
                        for i, x in enumerate(inputs)
                    ],
                    "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
                }
            )
        if "BLOCKED" in json.dumps(body.get("messages")):
            return JSONResponse(content_filter_error(), status_code=400)
        message = reply_message(body)
        if body.get("stream"):
            include = (body.get("stream_options") or {}).get("include_usage")
            return StreamingResponse(stream(message, include), media_type="text/event-stream")
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return JSONResponse(
            {
                "id": "chatcmpl-AZ1",
                "object": "chat.completion",
                "created": 1731000000,
                "model": "gpt-4o-2024-08-06",
                "system_fingerprint": "fp_04751d0b65",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "logprobs": None,
                        "message": message,
                        "content_filter_results": FILTERS,
                    }
                ],
                "usage": USAGE,
            }
        )


def reply_message(body: dict[str, Any]) -> dict[str, Any]:
    last = (body.get("messages") or [{}])[-1]
    if last.get("role") == "tool":
        return {"role": "assistant", "content": f"The tool answered {last['content']}."}
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_az1",
                    "type": "function",
                    "function": {"name": name, "arguments": '{"location":"Seattle"}'},
                }
            ],
        }
    return {"role": "assistant", "content": ANSWER}


def content_filter_error() -> dict[str, Any]:
    return {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
            "content management policy. Please modify your prompt and retry.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    **FILTERS,
                    "violence": {"filtered": True, "severity": "medium"},
                },
            },
        }
    }


async def stream(message: dict[str, Any], include_usage: bool):
    def event(data: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(data)}\n\n".encode()

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-AZ2",
            "object": "chat.completion.chunk",
            "created": 1731000000,
            "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_04751d0b65",
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "finish_reason": finish,
                    "logprobs": None,
                    "content_filter_results": {},
                }
            ],
        }

    # Azure opens every stream with the prompt's filter verdict and no choices.
    yield event(
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
        }
    )
    yield event(chunk({"role": "assistant", "content": ""}))
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        yield event(chunk({"tool_calls": [{"index": 0, **call}]}))
        yield event(chunk({}, "tool_calls"))
    else:
        for word in message["content"].split(" "):
            yield event(chunk({"content": word + " "}))
        yield event(chunk({}, "stop"))
    if include_usage:
        yield event(
            {
                "id": "chatcmpl-AZ2",
                "object": "chat.completion.chunk",
                "created": 1731000000,
                "model": "gpt-4o-2024-08-06",
                "choices": [],
                "usage": USAGE,
            }
        )
    yield b"data: [DONE]\n\n"
