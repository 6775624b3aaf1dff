"""A fake OpenAI upstream for agent clients: Chat Completions and the Responses API.

The conversation picks the answer: a tool result gets the weather answer, function tools get
a call of the first one, an image gets a description, a reasoning effort gets reasoning
before the answer, anything else gets a greeting. The upstream model named `overloaded`
answers 503 as OpenAI does when it is. Every request is recorded. Usage carries cached
tokens, so the proxy's accounting of them shows.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "sk-openai-agentic-0123456789"
GREETING = "Hello from the fake OpenAI upstream!"
IMAGE_ANSWER = "The image is a single pixel."
WEATHER_ANSWER = "It is 15 degrees Celsius in San Francisco."
REASONING = "27 * 453: 27 * 400 = 10800, 27 * 53 = 1431, so 12231."
THOUGHTFUL_ANSWER = "27 * 453 = 12,231"
ARGUMENTS = '{"location": "San Francisco, CA"}'
USAGE = {
    "prompt_tokens": 31,
    "completion_tokens": 9,
    "total_tokens": 40,
    "prompt_tokens_details": {"cached_tokens": 11},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
#: A web search the Responses API ran, as its `output` records it, and the answer citing it.
SEARCH_CALL = {
    "type": "web_search_call",
    "id": "ws_agentic_1",
    "status": "completed",
    "action": {"type": "search", "query": "Euro 2024 winner"},
}
SEARCH_ANSWER = "Spain won Euro 2024."
SEARCH_CITATION = {
    "type": "url_citation",
    "start_index": 0,
    "end_index": len(SEARCH_ANSWER),
    "url": "https://example.com/euro-2024",
    "title": "Euro 2024",
}
RESPONSES_USAGE = {
    "input_tokens": 37,
    "input_tokens_details": {"cached_tokens": 5},
    "output_tokens": 12,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 49,
}


def _error(status: int, message: str, kind: str = "server_error") -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status
    )


def _sse(events: list[dict[str, Any]], *, named: bool) -> bytes:
    out = b""
    for data in events:
        head = f"event: {data['type']}\n" if named else ""
        out += f"{head}data: {json.dumps(data)}\n\n".encode()
    return out


def _pieces(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeAgentic:
    """`app` serves /v1/chat/completions and /v1/responses; `requests` what reached it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
            ]
        )

    async def _begin(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        body = json.loads(await request.body())
        self.requests.append(
            {"path": request.url.path, "headers": dict(request.headers), "body": body}
        )
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return body, _error(401, "Incorrect API key provided.", "invalid_request_error")
        if body.get("model") == "overloaded":
            return body, _error(503, "The engine is currently overloaded, please try again later")
        return body, None

    # ----- chat completions -----

    async def _chat(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        message = self.chat_message(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-agentic",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "usage": USAGE,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                    ],
                }
            )
        usage = (body.get("stream_options") or {}).get("include_usage")
        return Response(
            self._chat_stream(body["model"], message, finish, usage), media_type="text/event-stream"
        )

    @staticmethod
    def chat_message(body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        last = messages[-1]
        if last["role"] == "tool":
            return {"role": "assistant", "content": WEATHER_ANSWER}
        if body.get("tools") and body.get("tool_choice") != "none":
            name = body["tools"][0]["function"]["name"]
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_agentic_1",
                        "type": "function",
                        "function": {"name": name, "arguments": ARGUMENTS},
                    }
                ],
            }
        content = last.get("content")
        if isinstance(content, list) and any(p.get("type") == "image_url" for p in content):
            return {"role": "assistant", "content": IMAGE_ANSWER}
        if body.get("reasoning_effort"):
            return {
                "role": "assistant",
                "content": THOUGHTFUL_ANSWER,
                "reasoning_content": REASONING,
            }
        return {"role": "assistant", "content": GREETING}

    @staticmethod
    def _chat_stream(model: str, message: dict[str, Any], finish: str, usage: bool) -> bytes:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-agentic",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }

        events = [chunk({"role": "assistant", "content": ""})]
        events += [
            chunk({"reasoning_content": p}) for p in _pieces(message.get("reasoning_content") or "")
        ]
        events += [chunk({"content": p}) for p in _pieces(message.get("content") or "")]
        for call in message.get("tool_calls") or ():
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            events += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
                for p in _pieces(call["function"]["arguments"])
            ]
        events.append(chunk({}, finish))
        if usage:
            events.append(
                {
                    "id": "chatcmpl-agentic",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": USAGE,
                }
            )
        return _sse(events, named=False) + b"data: [DONE]\n\n"

    # ----- responses -----

    async def _responses(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        items = self.response_output(body)
        response = _response(body, items, "completed", RESPONSES_USAGE)
        if not body.get("stream"):
            return JSONResponse(response)
        return Response(
            _sse(_response_events(body, items), named=True), media_type="text/event-stream"
        )

    @staticmethod
    def response_output(body: dict[str, Any]) -> list[dict[str, Any]]:
        given = body.get("input")
        last = given[-1] if isinstance(given, list) and given else {}
        functions = [t for t in body.get("tools") or () if t.get("type") == "function"]
        if last.get("type") == "function_call_output":
            text = WEATHER_ANSWER
        elif functions and body.get("tool_choice") != "none":
            return [
                {
                    "type": "function_call",
                    "id": "fc_agentic_1",
                    "call_id": "call_agentic_1",
                    "name": functions[0]["name"],
                    "arguments": ARGUMENTS,
                    "status": "completed",
                }
            ]
        elif any(str(t.get("type", "")).startswith("web_search") for t in body.get("tools") or ()):
            return [SEARCH_CALL, _message(SEARCH_ANSWER, [SEARCH_CITATION])]
        else:
            text = GREETING
        return [_message(text, [])]


def _message(text: str, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_agentic_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
        ],
    }


def _response(
    body: dict[str, Any], output: list[dict[str, Any]], status: str, usage: dict[str, Any] | None
) -> dict[str, Any]:
    """A Response object with the fields OpenAI documents."""
    return {
        "id": "resp_agentic_0123",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _response_events(body: dict[str, Any], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documented event sequence of one streamed response."""
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    add("response.created", response=_response(body, [], "in_progress", None))
    add("response.in_progress", response=_response(body, [], "in_progress", None))
    for index, item in enumerate(items):
        if item["type"] == "web_search_call":
            add(
                "response.output_item.added",
                output_index=index,
                item={k: v for k, v in item.items() if k != "action"} | {"status": "in_progress"},
            )
            for step in ("in_progress", "searching", "completed"):
                add(f"response.web_search_call.{step}", output_index=index, item_id=item["id"])
        elif item["type"] == "function_call":
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            for piece in _pieces(item["arguments"]):
                add(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            add(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
        else:
            text = item["content"][0]["text"]
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "content": [], "status": "in_progress"},
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            add(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
            for piece in _pieces(text):
                add(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            annotations = item["content"][0]["annotations"]
            for at, annotation in enumerate(annotations):
                add(
                    "response.output_text.annotation.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    annotation_index=at,
                    annotation=annotation,
                )
            add(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            add(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part={**part, "text": text, "annotations": annotations},
            )
        add("response.output_item.done", output_index=index, item=item)
    add("response.completed", response=_response(body, items, "completed", RESPONSES_USAGE))
    return events
