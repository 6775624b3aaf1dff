"""A request body for the upstream spliced from the client's bytes, not encoded again.

The client's body arrives as JSON bytes; the adapter sends the upstream a shaped copy of
it, which differs in a few top-level fields: the model name always, a system message put
first by policy, `stream_options` added. Encoding the whole copy again costs 13 µs for a
64 KB agent request (timeit); splicing the changed fields into the client's bytes costs a
copy, 3 µs, where `model` comes before `messages` and `tools` (10 µs where a long `tools`
list must be encoded to find it).

A splice is exact: its bytes are those orjson would write for the shaped body, or there
is no splice. That holds because of two facts. The client's bytes are orjson's own
encoding of the parsed body (`Source`, which gateway/proxy/body.py proves on reading), and
the parsed body is never changed in place (policy and adapters change copies). orjson
writes an object as its pairs in order, so a pair's place in the bytes follows from the
lengths of the pairs before it or after it, without looking for it. Only the pairs on the
side away from `messages` (the large field) are encoded to learn those lengths, and the
place found is checked against the bytes there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

#: Bodies shorter than this get no `Source` (gateway/proxy/body.py) and are encoded again:
#: for them orjson is cheaper than the splice.
MIN_SPLICE_BYTES: Final = 4096
_MESSAGES: Final = "messages"
_MESSAGES_OPEN: Final = b'"messages":['


class Source:
    """A request body as the client sent it: `raw` is orjson's own encoding of `value`."""

    __slots__ = ("value", "raw")

    def __init__(self, value: dict[str, Any], raw: bytes) -> None:
        self.value = value
        self.raw = raw


def _pairs(items: list[tuple[str, Any]]) -> bytes:
    """`"key":value,...` for the pairs, as they stand inside an object."""
    return orjson.dumps(dict(items))[1:-1]


def _start(raw: bytes, items: list[tuple[str, Any]], index: int, length: int, big: int) -> int:
    """Where pair `index` (`length` bytes long) begins in `raw`, found from the lengths of
    the pairs on the side away from the big pair at `big` (-1: none)."""
    if big < 0 or index <= big:
        before = items[:index]
        return 1 + len(_pairs(before)) + 1 if before else 1
    after = items[index + 1 :]
    end = len(raw) - 1 - (len(_pairs(after)) + 1 if after else 0)
    return end - length


def _system_first(old: Any, new: Any) -> bool:
    """Whether `new` is the list `old` with one message put before it (nothing copied)."""
    if type(old) is not list or type(new) is not list or len(new) != len(old) + 1:
        return False
    return all(new[i + 1] is old[i] for i in range(len(old)))


def spliced(source: Source, shaped: Mapping[str, Any]) -> bytes | None:
    """`shaped` as orjson encodes it, spliced from `source`; None where a splice is not
    certain (a field removed or reordered, `messages` changed otherwise than by a message
    put first): the caller encodes `shaped` then."""
    raw, value = source.raw, source.value
    if len(shaped) < len(value) or not value:
        return None
    items = list(value.items())
    big = list(value).index(_MESSAGES) if _MESSAGES in value else -1
    edits: list[tuple[int, int, bytes]] = []  # (start, bytes replaced, bytes put there)
    added: list[tuple[str, Any]] = []
    index = 0
    try:
        for key, new in shaped.items():
            if index >= len(items):
                added.append((key, new))
                continue
            name, old = items[index]
            if key != name:
                return None
            if new is not old:
                if index == big:
                    if not _system_first(old, new):
                        return None
                    at = _start(raw, items, index, 0, big)
                    if raw[at : at + len(_MESSAGES_OPEN)] != _MESSAGES_OPEN:
                        return None
                    first = orjson.dumps(new[0])
                    edits.append((at + len(_MESSAGES_OPEN), 0, first + b"," if old else first))
                else:
                    pair = _pairs([(name, old)])
                    at = _start(raw, items, index, len(pair), big)
                    if raw[at : at + len(pair)] != pair:
                        return None
                    edits.append((at, len(pair), _pairs([(key, new)])))
            index += 1
        if added:
            edits.append((len(raw) - 1, 0, b"," + _pairs(added)))
    except orjson.JSONEncodeError:
        return None
    whole = memoryview(raw)  # slices of it are not copies; the join is the one copy
    parts: list[Any] = []
    done = 0
    for at, replaced, text in edits:  # in the order of the pairs: rising offsets
        parts.append(whole[done:at])
        parts.append(text)
        done = at + replaced
    parts.append(whole[done:])
    return b"".join(parts)
