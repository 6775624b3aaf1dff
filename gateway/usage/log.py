"""The usage log: one JSON line per request, written by a background thread off the request path."""

from __future__ import annotations

import collections
import json
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

#: Fields of a usage log line, in the order they are written. Never prompt text, never keys.
FIELDS = ("time", "request_id", "consumer", "model", "requested_model", "channel", "provider",
          "upstream_model", "endpoint", "stream", "attempts", "status", "error_code",
          "latency_ms", "ttft_ms", "usage", "cost", "currency")

class UsageLog:
    """Queue entries on the request path; a daemon thread serialises and writes them.

    `target` is a file path (appended to), "-" for stdout, or None/"off" for no log. A full
    queue drops the entry and counts it rather than slowing requests down.
    """

    #: How often the writer wakes to write what piled up: requests never wake it themselves
    #: (a wake-up per request costs the event loop a lock, a notify and a GIL hand-off).
    INTERVAL_S = 0.1

    def __init__(self, target: str | None, *, max_queue: int = 100_000) -> None:
        self.dropped = 0
        self._max = max_queue
        self._pending: collections.deque[Any] = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: TextIO | None = None
        if target and target != "off":
            self._stream = sys.stdout if target == "-" else open(target, "a", encoding="utf-8")  # noqa: SIM115
            self._thread = threading.Thread(target=self._run, name="usage-log", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._thread is not None

    def record(self, entry: Mapping[str, Any]) -> None:
        if self._thread is None:
            return
        if len(self._pending) >= self._max:
            self.dropped += 1
            return
        self._pending.append(entry)  # atomic under the GIL: no lock on the request path

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None
        if self._stream is not None and self._stream is not sys.stdout:
            self._stream.close()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            self._write()
        self._write()

    def _write(self) -> None:
        assert self._stream is not None
        pending, lines = self._pending, []
        while pending:
            lines.append(_line(pending.popleft()))
        if lines:
            self._stream.write("".join(lines))
            self._stream.flush()


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _line(entry: Mapping[str, Any]) -> str:
    ordered = {k: entry[k] for k in FIELDS if entry.get(k) is not None}
    when = ordered.get("time")
    if isinstance(when, float):  # epoch seconds from the request path, formatted here
        ordered["time"] = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    return _encode(ordered) + "\n"
