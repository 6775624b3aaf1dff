"""The OpenAI fast path: an upstream's bytes relayed with the model name swapped, and
which stream events must be parsed."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from gateway.errors import UpstreamProtocolError
from gateway.proxy.chunk import RawChunk, RawEvents, loads

_OnePass = Callable[[bytes, bytes, bytes], tuple[bytes | None, int, int]]
_one_pass: _OnePass | None
try:  # the one-pass proof in C (setup.py builds it beside the compiled modules)
    from gateway.proxy.adapters._sse_runs import openai_run as _one_pass
except ImportError:  # the Python build: the proof below, with bytes methods
    _one_pass = None


def _parse_chunk(data: bytes) -> dict[str, Any]:
    try:
        chunk = loads(data)
    except ValueError as exc:
        raise UpstreamProtocolError("upstream sent an unreadable event") from exc
    if not isinstance(chunk, dict) or "error" in chunk:
        raise UpstreamProtocolError("upstream ended its stream with an error")
    return chunk


#: What ends a run of plain events: a finish reason or usage that is not null, an error,
#: [DONE], or a CR (a line break the whole-events check does not count).
_MARK = re.compile(rb'"(?:finish_reason|usage)"\s*+:\s*+(?!null)|"error"|\[DONE\]|\r')


def _first_mark(data: bytes, end: int) -> int:
    """Where the first `_MARK` in `data[:end]` starts, or -1. A finish reason or usage that
    is not null is looked for only when the counts say one is there (in compact JSON:
    `"key":null`, else `"finish_reason":"` or `"usage":{`; the expression otherwise)."""
    found = [at for needle in (b'"error"', b"\r") if (at := data.find(needle, 0, end)) >= 0]
    for key, compact in _NON_NULL:
        others = data.count(key, 0, end) - data.count(key + b":null", 0, end)
        if others:
            at = data.find(compact, 0, end)
            if at < 0 or data.count(compact, 0, end) != others:
                mark = _MARK.search(data, 0, end)
                return -1 if mark is None else mark.start()
            found.append(at)
    return min(found) if found else -1


_NON_NULL = ((b'"finish_reason"', b'"finish_reason":"'), (b'"usage"', b'"usage":{'))

#: How OpenAI ends a chat chunk that carries no finish reason (and, when the stream was
#: asked for usage, no usage), compact: the last choice's null finish reason, the blank line.
_PLAIN_TAILS = (b'"finish_reason":null}],"usage":null}\n\n', b'"finish_reason":null}]}\n\n')


def _openai_run(buffer: bytes, end: int) -> tuple[int, int] | None:
    """Where the run of plain events at the start of `buffer[:end]` ends, and how many it
    holds, when it is written exactly as OpenAI writes chunks; None otherwise (then
    `_first_mark` looks). Fewer passes over the bytes than the general check:

    every event but the last ends in a plain tail followed by the next `data: {`, and the
    run's line breaks are just those (so each event is one line ending in a tail), each
    event names one finish reason (the tail's null) and has a non-empty `choices` (an event
    without choices may be the usage chunk, which the relay drops), with no error and no CR.
    Usage is counted only where the tail has none: a tail ending in `"usage":null}` closes
    the event, so its usage is null for every reader that takes the last of a repeated key
    (orjson, the stdlib's json, JSON.parse: the relay's slow path and the SDKs). Each count
    is one pass over the run, 10 to 25 µs per 50 KB here, so they are as few as that proof
    allows.
    """
    for tail in _PLAIN_TAILS:
        last = buffer.rfind(tail, 0, end)
        if last < 0:
            continue
        stop = last + len(tail)
        count = buffer.count(tail + b"data: {", 0, stop) + 1
        if (
            buffer.count(b"\n", 0, stop) == 2 * count
            and buffer.count(b'"finish_reason"', 0, stop) == count
            and buffer.count(b'"choices":[{', 0, stop) == count
            and (tail is _PLAIN_TAILS[0] or buffer.find(b'"usage"', 0, stop) < 0)
            and buffer.find(b"\r", 0, stop) < 0
            and buffer.find(b'"error"', 0, stop) < 0
        ):
            return stop, count
        return None
    return None


def _set(data: bytes, key: bytes) -> bool:
    """Whether the quoted key occurs with a value other than `null` (one `key:null` is how
    OpenAI sends usage and finish_reason in chunks that carry neither)."""
    at = data.find(key)
    if at < 0:
        return False
    end = at + len(key)
    return data[end : end + 5] != b":null" or data.find(key, end) >= 0


_dump = json.JSONEncoder(ensure_ascii=False).encode


@functools.lru_cache(maxsize=1024)
def _rename(upstream_model: str, client_model: str) -> _Rename:
    """The rename of one (upstream, client) model pair, encoded once: the same few repeat."""
    return _Rename(upstream_model, client_model)


class _Rename:
    """The fast path: the upstream's bytes relayed as they are, with the model name swapped
    by a bytes replace; of stream events, only those that can end or meter the stream parsed."""

    __slots__ = ("upstream", "client", "same", "needles", "renamed")

    def __init__(self, upstream_model: str, client_model: str) -> None:
        self.upstream = _dump(upstream_model).encode()
        self.client = _dump(client_model).encode()
        self.same = self.upstream == self.client
        self.needles = [(key, key + self.upstream) for key in (b'"model":', b'"model": ')]
        self.renamed = b'"model":' + self.client  # what the compact needle becomes

    def swap(self, data: bytes) -> bytes | None:
        """`data` with the model named as the client asked, or None unless `"model": <name>`
        occurs exactly once (compact, or with the one space pretty-printers put there).

        When the two names are the same, finding the name is enough: any other name the
        upstream gives (a dated snapshot's) sends the answer the slow way, renamed.
        """
        for key, needle in self.needles:
            at = data.find(needle)
            if at >= 0:
                if self.same:
                    return data
                if data.find(needle, at + len(needle)) >= 0:
                    return None
                return data[:at] + key + self.client + data[at + len(needle) :]
        return None

    def whole_events(self, buffer: bytes) -> tuple[RawEvents | None, bytes]:
        """The plain events at the start of `buffer` as one RawEvents, renamed, and the rest.

        Taken whole only where every event is framed as the client gets it (one
        `data: {...}` line and a blank line, no CR), before the first that can carry a
        finish reason, usage, an error or [DONE], and where each of them holds
        `"model":<upstream name>` and a non-empty `"choices":[{` (counted over the events,
        so an event of a chunk shape that needs shaping sends the read the slow way).

        Where the C extension is built, it takes the events written exactly as OpenAI
        writes them in one pass (gateway/proxy/adapters/_sse_runs.c, only ever stricter
        than `counted_events`); a read where it takes none, `counted_events` looks at.
        """
        if _one_pass is not None:
            renamed, stop, count = _one_pass(buffer, self.needles[0][1], self.renamed)
            if renamed is not None:
                return RawEvents(renamed, count), buffer[stop:]
        return self.counted_events(buffer)

    def counted_events(self, buffer: bytes) -> tuple[RawEvents | None, bytes]:
        """`whole_events` with bytes methods, one pass over the read per fact proved."""
        end = buffer.rfind(b"\n\n") + 2
        if end < 2 or not buffer.startswith(b"data: {"):
            return None, buffer
        run = _openai_run(buffer, end)
        if run is not None:
            return self._renamed(buffer, *run)
        mark = _first_mark(buffer, end)
        if mark >= 0:
            end = buffer.rfind(b"\n\n", 0, mark) + 2
            if end < 2:
                return None, buffer
        region = buffer[:end]
        count = region.count(b"}\n\ndata: {") + 1
        if (
            region.count(b"\n") != 2 * count
            or not region.endswith(b"}\n\n")
            or region.count(b'"choices":[{') != count
        ):
            return None, buffer
        return self._renamed(buffer, end, count)

    def _renamed(self, buffer: bytes, end: int, count: int) -> tuple[RawEvents | None, bytes]:
        """The `count` plain events of `buffer[:end]` renamed, if each names the upstream's
        model once, and the rest of the buffer."""
        region = buffer[:end]
        needle = self.needles[0][1]
        renamed = region if self.same else region.replace(needle, self.renamed)
        longer = len(self.client) - len(self.upstream)
        # the replacements counted by how much longer the bytes got, where the names differ
        # in length: one pass less than counting them first
        found = (len(renamed) - len(region)) // longer if longer else region.count(needle)
        if found != count:
            return None, buffer
        return RawEvents(renamed, count), buffer[end:]

    def fast_chunk(self, data: bytes) -> RawChunk | None:
        """The event as a RawChunk, or None when it must be parsed and shaped as a dict."""
        if not (data.startswith(b"{") and data.endswith(b"}")) or b'"error"' in data:
            return None
        swapped = self.swap(data)
        if swapped is None:
            return None  # `"model":"..."` not found once: let json do it
        data = swapped
        if _set(data, b'"finish_reason"') or (
            b'"usage"' in data and (_set(data, b'"usage"') or b'"choices":[{' not in data)
        ):
            return RawChunk(data, _parse_chunk(data))
        return RawChunk(data, None, True)
