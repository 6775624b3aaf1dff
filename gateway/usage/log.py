"""The usage log: one JSON line per request, written in batches off the request path."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

import orjson

#: Fields of a usage log line, in the order they are written. Never prompt text, never keys.
FIELDS = (
    "time",
    "request_id",
    "consumer",
    "model",
    "requested_model",
    "channel",
    "provider",
    "upstream_model",
    "endpoint",
    "stream",
    "attempts",
    "status",
    "error_code",
    "latency_ms",
    "ttft_ms",
    "usage",
    "cost",
    "currency",
)


class UsageLog:
    """Where usage log lines go: `target` is a file path (appended to), "-" for stdout, or
    None/"off" for no log.

    Lines come in batches (see `Accountant`), each batch one write to the page cache or a
    pipe, where uvicorn's own access log writes a line for every request. Written from the
    event loop rather than a thread on purpose: a second thread running Python beside a busy
    loop contends for the GIL at each of the loop's system calls, and on a small machine
    those hand-offs cost several times the formatting itself (measured with
    benchmarks/proxy/inprocess.py).
    """

    def __init__(self, target: str | None) -> None:
        self._lock = threading.Lock()  # close() may come from another thread
        self._stream: TextIO | None = None
        if target and target != "off":
            self._stream = sys.stdout if target == "-" else open(target, "a", encoding="utf-8")  # noqa: SIM115

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def write(self, lines: list[str]) -> None:
        """Write lines built by `request_line`."""
        with self._lock:
            if lines and self._stream is not None:
                self._stream.write("".join(lines))
                self._stream.flush()

    def close(self) -> None:
        """Stop logging; what was written stays."""
        with self._lock:
            if self._stream is not None and self._stream is not sys.stdout:
                self._stream.close()
            self._stream = None


_encode = json.JSONEncoder(separators=(",", ":")).encode
_second: list[Any] = [None, ""]  # the last whole second formatted, and its text
#: ".000+00:00" to ".999+00:00": a line's milliseconds and zone, looked up, not formatted.
_MILLISECONDS = tuple(f".{ms:03d}+00:00" for ms in range(1000))


def _time(when: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds; the seconds part formatted once."""
    second = int(when)
    milliseconds = round((when - second) * 1e6) // 1000  # as datetime: round to µs, cut
    if milliseconds > 999:  # rounds up into the next second
        second, milliseconds = second + 1, 0
    if _second[0] != second:
        _second[:] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return _second[1] + _MILLISECONDS[milliseconds]


def request_line(
    when: float,
    request_id: str,
    consumer: str,
    model: str,
    requested_model: str,
    channel: str | None,
    provider: str | None,
    upstream_model: str | None,
    endpoint: str,
    stream: bool,
    attempts: int,
    status: int,
    error_code: str | None,
    latency_ms: float,
    ttft_ms: float | None,
    usage: Mapping[str, Any],
    cost: str | None,
    currency: str | None,
) -> str:
    """The usage log line of one request: FIELDS in order, None values left out.

    Encoded by orjson: the hand-built line it replaced saved under 1% of the CPU per request
    (measured with benchmarks/proxy/toggles.py before it went), so it went.
    """
    # FIELDS in order, written out: a comprehension over zip(FIELDS, values) cost twice this.
    # Only these may be None.
    line: dict[str, Any] = {
        "time": _time(when),
        "request_id": request_id,
        "consumer": consumer,
        "model": model,
        "requested_model": requested_model,
    }
    if channel is not None:
        line["channel"] = channel
    if provider is not None:
        line["provider"] = provider
    if upstream_model is not None:
        line["upstream_model"] = upstream_model
    line["endpoint"] = endpoint
    line["stream"] = stream
    line["attempts"] = attempts
    line["status"] = status
    if error_code is not None:
        line["error_code"] = error_code
    line["latency_ms"] = latency_ms
    if ttft_ms is not None:
        line["ttft_ms"] = ttft_ms
    line["usage"] = usage
    if cost is not None:
        line["cost"] = cost
    if currency is not None:
        line["currency"] = currency
    try:
        return orjson.dumps(line).decode() + "\n"
    except TypeError:  # a lone surrogate (orjson refuses them): escaped by the stdlib
        return _encode(line) + "\n"
