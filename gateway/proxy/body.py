"""Reading a request body from the ASGI stream, refusing it as soon as it passes the limit."""

from __future__ import annotations

import json
import math
import re
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


class _Refused(ValueError):
    """JSON that Python would read but that no client should send."""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:20]} is out of range")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise _Refused(f"integer {text[:20]}... is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # Parsers disagree on which duplicate wins; a gateway and its upstream must not.
        raise _Refused("an object has the same key twice")
    return out


_decoder = json.JSONDecoder(parse_float=_finite_float, parse_int=_int64,
                            parse_constant=_no_constant, object_pairs_hook=_unique_keys)
# A lone UTF-16 surrogate escape (\ud800 without its pair) cannot be encoded again.
_LONE_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object in strict UTF-8 JSON, or a 400 in OpenAI's shape.

    Refused beyond what json.loads refuses: a BOM, NaN and infinities, integers beyond
    64 bits, duplicate keys, lone surrogate escapes, nesting too deep to parse.
    """
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise _Refused("a byte order mark is not allowed")
        if "\\u" in text and _LONE_SURROGATE.search(text):
            raise _Refused("a string holds a lone surrogate escape")
        data = _decoder.decode(text)
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidRequest("request body is nested too deeply") from None
    except ValueError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data
