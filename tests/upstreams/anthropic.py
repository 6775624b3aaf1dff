"""A fake Anthropic Messages API on loopback, answering with the examples of Anthropic's docs.

The upstream model named in the request picks a failure (`overloaded`, `rate-limited`,
`bad-request`, `stream-error`); otherwise the conversation picks the answer: a tool result
gets the weather answer, web search gets the documented search answers, tools get the
documented tool_use answer, an image gets a description, thinking gets the documented
27 * 453 stream, anything else gets "Hello!".
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "sk-ant-test-key-0123456789"
#: API versions are dates (2023-06-01 is the one most clients send; newer SDKs send newer).
VERSION = re.compile(r"20\d\d-\d\d-\d\d")
#: What the fake's token counting endpoint answers (the documented example's count).
COUNTED_TOKENS = 2095

# The documented non-streamed answer (Messages API reference).
HELLO_MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "model": "claude-sonnet-4-5-20250929",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 2095, "output_tokens": 503},
}

# The documented tool use answer (tool use guide), with the fields every message carries.
TOOL_USE_MESSAGE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "content": [
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "celsius"},
        },
    ],
    "usage": {
        "input_tokens": 472,
        "output_tokens": 89,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    },
}

WEATHER_MESSAGE = {
    "id": "msg_01Bq9w938a90dw8r",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "content": [
        {
            "type": "text",
            "text": "The current weather in San Francisco is 15 degrees "
            "Celsius (59 degrees Fahrenheit). It's a cool day in the city by the bay!",
        }
    ],
    "usage": {"input_tokens": 612, "output_tokens": 34},
}

IMAGE_MESSAGE = {
    "id": "msg_01Cq9w938a90dw8s",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "content": [
        {"type": "text", "text": "This image shows an ant, specifically a close-up view of an ant."}
    ],
    "usage": {"input_tokens": 1551, "output_tokens": 71},
}


# The documented web search answer (web search tool guide), citations left out.
WEB_SEARCH_MESSAGE = {
    "id": "msg_a930390d3a",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "content": [
        {"type": "text", "text": "I'll search for when Claude Shannon was born."},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "name": "web_search",
            "input": {"query": "claude shannon birth date"},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE",
            "content": [
                {
                    "type": "web_search_result",
                    "title": "Claude Shannon - Wikipedia",
                    "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
                    "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1k...",
                    "page_age": "April 30, 2025",
                }
            ],
        },
        {"type": "text", "text": "Based on the search results, "},
        {
            "type": "text",
            "text": "Claude Shannon was born on April 30, 1916, in Petoskey, Michigan",
        },
    ],
    "usage": {
        "input_tokens": 6039,
        "output_tokens": 931,
        "server_tool_use": {"web_search_requests": 1},
    },
}


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


MODEL = "claude-sonnet-4-5-20250929"


def _start(message_id: str, usage: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return "message_start", {"type": "message_start", "message": message}


def _block(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    start = {"type": "content_block_start", "index": index, "content_block": block}
    return "content_block_start", start


def _block_stop(index: int) -> tuple[str, dict[str, Any]]:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def _end(stop_reason: str, usage: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    return [
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
        ("message_stop", {"type": "message_stop"}),
    ]


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _text(index: int, text: str) -> tuple[str, dict[str, Any]]:
    return _delta(index, {"type": "text_delta", "text": text})


def _json(index: int, parts: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [_delta(index, {"type": "input_json_delta", "partial_json": p}) for p in parts]


_TEXT_BLOCK = {"type": "text", "text": ""}
_PING = ("ping", {"type": "ping"})

# The documented basic streaming response.
HELLO_STREAM = _sse(
    [
        _start("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", {"input_tokens": 25, "output_tokens": 1}),
        _block(0, _TEXT_BLOCK),
        _PING,
        _text(0, "Hello"),
        _text(0, "!"),
        _block_stop(0),
        *_end("end_turn", {"output_tokens": 15}),
    ]
)

_WEATHER_WORDS = [
    "Okay",
    ",",
    " let",
    "'s",
    " check",
    " the",
    " weather",
    " for",
    " San",
    " Francisco",
    ",",
    " CA",
    ":",
]
_WEATHER_JSON = [
    "",
    '{"location":',
    ' "San',
    " Francisc",
    "o,",
    ' CA"',
    ", ",
    '"unit": "fah',
    'renheit"}',
]

# The documented streaming response with tool use (text block, then a tool_use block).
TOOL_USE_STREAM = _sse(
    [
        _start("msg_014p7gG3wDgGV9EUtLvnow3U", {"input_tokens": 472, "output_tokens": 2}),
        _block(0, _TEXT_BLOCK),
        _PING,
        *[_text(0, word) for word in _WEATHER_WORDS],
        _block_stop(0),
        _block(
            1,
            {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather",
                "input": {},
            },
        ),
        *_json(1, _WEATHER_JSON),
        _block_stop(1),
        *_end("tool_use", {"output_tokens": 89}),
    ]
)

_STEPS = [
    "Let me solve this step by step:\n\n1. First break down 27 * 453",
    "\n2. 453 = 400 + 50 + 3",
    "\n3. 27 * 400 = 10,800",
    "\n4. 27 * 50 = 1,350",
    "\n5. 27 * 3 = 81",
    "\n6. 10,800 + 1,350 + 81 = 12,231",
]
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."

# The documented streaming response with extended thinking.
THINKING_STREAM = _sse(
    [
        _start("msg_01...", {"input_tokens": 48, "output_tokens": 1}),
        _block(0, {"type": "thinking", "thinking": ""}),
        *[_delta(0, {"type": "thinking_delta", "thinking": step}) for step in _STEPS],
        _delta(0, {"type": "signature_delta", "signature": SIGNATURE}),
        _block_stop(0),
        _block(1, _TEXT_BLOCK),
        _text(1, "27 * 453 = 12,231"),
        _block_stop(1),
        *_end("end_turn", {"output_tokens": 212}),
    ]
)

_SEARCH_RESULT = {
    "type": "web_search_result",
    "title": "Weather in New York City in May 2025 "
    "(New York) - detailed Weather Forecast for a month",
    "url": "https://world-weather.info/forecast/usa/new_york/may-2025/",
    "encrypted_content": "Ev0DCioIAxgCIiQ3NmU4ZmI4OC1k...",
    "page_age": None,
}
_SEARCH_CACHE = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
_SEARCH_TOOL = "srvtoolu_014hJH82Qum7Td6UV8gDXThB"

# The documented streaming response with the web search tool (first result block only).
WEB_SEARCH_STREAM = _sse(
    [
        _start("msg_01G...", {"input_tokens": 2679, **_SEARCH_CACHE, "output_tokens": 3}),
        _block(0, _TEXT_BLOCK),
        _text(0, "I'll check"),
        _text(0, " the current weather in New York City for you"),
        _PING,
        _text(0, "."),
        _block_stop(0),
        _block(
            1, {"type": "server_tool_use", "id": _SEARCH_TOOL, "name": "web_search", "input": {}}
        ),
        *_json(1, ["", '{"query', '":', ' "weather', " NY", "C to", 'day"}']),
        _block_stop(1),
        _block(
            2,
            {
                "type": "web_search_tool_result",
                "tool_use_id": _SEARCH_TOOL,
                "content": [_SEARCH_RESULT],
            },
        ),
        _block_stop(2),
        _block(3, _TEXT_BLOCK),
        _text(3, "Here's the current weather information for New York"),
        _text(3, " City:\n\n# Weather"),
        _text(3, " in New York City"),
        _text(3, "\n\n"),
        _block_stop(3),
        *_end(
            "end_turn",
            {
                "input_tokens": 10682,
                **_SEARCH_CACHE,
                "output_tokens": 510,
                "server_tool_use": {"web_search_requests": 1},
            },
        ),
    ]
)

# The documented extended thinking answer.
THINKING_MESSAGE = {
    "id": "msg_01Dq9w938a90dw8t",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "content": [
        {"type": "thinking", "thinking": "".join(_STEPS), "signature": SIGNATURE},
        {"type": "text", "text": "27 * 453 = 12,231"},
    ],
    "usage": {"input_tokens": 48, "output_tokens": 212},
}


def _text_stream(message: dict[str, Any]) -> bytes:
    """A one-text-block message as the events that stream it."""
    text = message["content"][0]["text"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {**message["usage"], "output_tokens": 1},
    }
    return _sse(
        [
            ("message_start", {"type": "message_start", "message": start}),
            _block(0, _TEXT_BLOCK),
            *[_text(0, text[i : i + 16]) for i in range(0, len(text), 16)],
            _block_stop(0),
            *_end("end_turn", {"output_tokens": message["usage"]["output_tokens"]}),
        ]
    )


WEATHER_STREAM = _text_stream(WEATHER_MESSAGE)

# A stream cut by the documented overloaded error event.
OVERLOADED_STREAM = HELLO_STREAM.split(b"event: content_block_stop")[0] + _sse(
    [
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    ]
)

_FAILURES = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "rate-limited": (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
    ),
    "bad-request": (
        400,
        "invalid_request_error",
        'messages: roles must alternate between "user" and "assistant"',
    ),
}


def _error(status: int, kind: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        },
        status,
        headers,
    )


def answer(body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The answer to a Messages body, whole and as a stream."""
    last = body["messages"][-1]
    blocks = last["content"] if isinstance(last["content"], list) else []
    kinds = {block.get("type") for block in blocks}
    if "tool_result" in kinds:
        return WEATHER_MESSAGE, WEATHER_STREAM
    if "image" in kinds:
        return IMAGE_MESSAGE, HELLO_STREAM
    if any(tool.get("type", "").startswith("web_search_") for tool in body.get("tools", ())):
        return WEB_SEARCH_MESSAGE, WEB_SEARCH_STREAM
    if body.get("tools"):
        return TOOL_USE_MESSAGE, TOOL_USE_STREAM
    if body.get("thinking"):
        return THINKING_MESSAGE, THINKING_STREAM
    return HELLO_MESSAGE, HELLO_STREAM


def make_app(received: list[dict[str, Any]], *, api_key: str = API_KEY) -> Starlette:
    """The fake upstream; every accepted request is appended to `received` (headers, body)."""

    async def messages(request: Request) -> Response:
        if request.headers.get("x-api-key") != api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not VERSION.fullmatch(request.headers.get("anthropic-version") or ""):
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        body = await request.json()
        received.append({"headers": dict(request.headers), "body": body})
        model = body.get("model", "")
        if model in _FAILURES:
            status, kind, message = _FAILURES[model]
            return _error(status, kind, message, **({"retry-after": "7"} if status == 429 else {}))
        message, stream = answer(body)
        if model == "stream-error":
            stream = OVERLOADED_STREAM
        if body.get("stream"):
            return Response(stream, media_type="text/event-stream")
        return JSONResponse(message)

    async def count_tokens(request: Request) -> Response:
        if request.headers.get("x-api-key") != api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        body = await request.json()
        received.append({"headers": dict(request.headers), "body": body})
        if "max_tokens" in body or "stream" in body:
            return _error(400, "invalid_request_error", "count_tokens takes no max_tokens")
        return JSONResponse({"input_tokens": COUNTED_TOKENS})

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    )
