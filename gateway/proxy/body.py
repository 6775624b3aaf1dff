"""Reading a request body from the ASGI stream, refusing it as soon as it passes the limit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.errors import InvalidRequest, RequestTooLarge

Receive = Callable[[], Awaitable[dict[str, Any]]]


class ClientGone(Exception):
    """The client disconnected before its body was read."""


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"request body is larger than the limit of {limit} bytes")


async def read_body(receive: Receive, limit: int, content_length: int | None = None) -> bytes:
    """The whole body, or RequestTooLarge once more than `limit` bytes were announced or read."""
    if content_length is not None and content_length > limit:
        raise _too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone()
    body = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: one message
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 in OpenAI's shape."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data
