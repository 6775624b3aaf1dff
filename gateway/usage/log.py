"""The usage log: one JSON line per request, written by a background thread off the request path."""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

#: Fields of a usage log line, in the order they are written. Never prompt text, never keys.
FIELDS = ("time", "request_id", "consumer", "model", "requested_model", "channel", "provider",
          "upstream_model", "endpoint", "stream", "attempts", "status", "error_code",
          "latency_ms", "ttft_ms", "usage", "cost", "currency")

_STOP = object()


class UsageLog:
    """Queue entries on the request path; a daemon thread serialises and writes them.

    `target` is a file path (appended to), "-" for stdout, or None/"off" for no log. A full
    queue drops the entry and counts it rather than slowing requests down.
    """

    def __init__(self, target: str | None, *, max_queue: int = 100_000) -> None:
        self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
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
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        if self._stream is not None and self._stream is not sys.stdout:
            self._stream.close()

    def _run(self) -> None:
        assert self._stream is not None
        while True:
            entry = self._queue.get()
            lines = []
            while entry is not _STOP:
                lines.append(_line(entry))
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            if lines:
                self._stream.write("".join(lines))
                self._stream.flush()
            if entry is _STOP:
                return


def _line(entry: Mapping[str, Any]) -> str:
    ordered = {k: entry[k] for k in FIELDS if entry.get(k) is not None}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False) + "\n"
