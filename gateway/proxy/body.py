"""Reading a request body from the ASGI stream, refusing it as soon as it passes the limit."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import InvalidRequest, RequestTooLarge
from gateway.proxy.splice import MIN_SPLICE_BYTES, Source

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
    if not -(2**63) <= value < 2**64:  # what 64 bits hold, signed or unsigned
        raise _Refused(f"integer {text[:20]}... is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # Parsers disagree on which duplicate wins; a gateway and its upstream must not.
        raise _Refused("an object has the same key twice")
    return out


_decoder = json.JSONDecoder(
    parse_float=_finite_float,
    parse_int=_int64,
    parse_constant=_no_constant,
    object_pairs_hook=_unique_keys,
)

#: The deepest nesting of arrays and objects a request may have: far beyond any real request
#: (tool schemas nest a dozen levels), far below what parsing or encoding it again for an
#: upstream could not handle. The one depth limit of the proxy.
MAX_DEPTH = 128

# A \uD800-\uDFFF escape somewhere, maybe escaped itself ("\\ud800" is text, not an escape):
# only a hint that decoded strings need a look.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[" + chr(0xD800) + "-" + chr(0xDFFF) + "]")


def too_deep(body: bytes, data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in `data` (parsed from `body`) nest deeper than `limit`.

    Bodies with fewer than `limit` brackets cannot: only those are walked, container by
    container (a walk of the parsed value, not a scan of the body's bytes: 64 KB of agent
    history costs a few hundred containers, not a pass with a regular expression).
    """
    if body.count(b"[") + body.count(b"{") < limit:
        return False
    level: list[Any] = [data]
    for _ in range(limit):
        below: list[Any] = []
        for value in level:
            children = value.values() if type(value) is dict else value
            below += [c for c in children if type(c) is dict or type(c) is list]
        if not below:
            return False
        level = below
    return True


def _lone_surrogate(value: Any) -> bool:
    """Whether a decoded string (or key) anywhere in `value` holds a lone surrogate: one
    whose escape had no partner, which no encoder can write as UTF-8 again."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


def _orjson_depth_limit() -> int:
    """The deepest nesting orjson encodes (254 in orjson 3.x), found once by trying."""
    value: Any = None
    for depth in range(1, 1025):
        value = [value]
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            return depth - 1
    return 1024


#: Lists wrapped around a parsed body before it is encoded again, so that orjson's own depth
#: limit refuses exactly the bodies nesting deeper than MAX_DEPTH (0: no fast path). Built
#: once; the body goes into the innermost list (`_HOLE`) for the time of one encoding.
_PAD = max(_orjson_depth_limit() - MAX_DEPTH, 0)
_HOLE: list[Any] = [None]
_WRAPPED: list[Any] = _HOLE
for _ in range(_PAD - 1):
    _WRAPPED = [_WRAPPED]


def _canonical(body: bytes) -> dict[str, Any] | None:
    """The body parsed by orjson, if it is a JSON object written the way orjson writes one
    (compact, UTF-8, no needless escapes: what the official SDKs send) and nests no deeper
    than MAX_DEPTH; None for anything else, which the strict parser then reads.

    Encoding the parsed value again and finding the body's very bytes proves what orjson
    does not check itself: no object has a key twice (the value written again would lack
    the second one). orjson refuses the rest of what `parse_json_object` refuses: a BOM,
    NaN and infinities, lone surrogates, integers beyond 64 bits.
    """
    if not _PAD:
        return None
    try:
        data = orjson.loads(body)
        if type(data) is not dict:
            return None
        _HOLE[0] = data
        again = orjson.dumps(_WRAPPED)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    finally:
        _HOLE[0] = None
    # Compared in place: a slice would copy the body (64 KB for an agent's request).
    if len(again) != len(body) + 2 * _PAD or not again.startswith(body, _PAD):
        return None
    return data


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object in strict UTF-8 JSON, or a 400 in OpenAI's shape.

    Refused beyond what json.loads refuses: a BOM, NaN and infinities, integers beyond
    64 bits, duplicate keys, strings holding a lone surrogate, nesting deeper than
    MAX_DEPTH.
    """
    return parse_source(body)[0]


def parse_source(body: bytes) -> tuple[dict[str, Any], Source | None]:
    """`parse_json_object`, and the body as a `Source` when its bytes are orjson's own
    encoding of the object (what the official SDKs send) and not under MIN_SPLICE_BYTES:
    the upstream's body may then be spliced from them (gateway/proxy/splice.py)."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    canonical = _canonical(body)
    if canonical is not None:
        return canonical, Source(canonical, body) if len(body) >= MIN_SPLICE_BYTES else None
    data: Any
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise _Refused("a byte order mark is not allowed")
        data = _decoder.decode(text)
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidRequest(f"request body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    if too_deep(body, data):
        raise InvalidRequest(f"request body nests deeper than {MAX_DEPTH} levels")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _lone_surrogate(data):
        raise InvalidRequest("request body is not valid JSON: a string holds a lone surrogate")
    return data, None
