"""Stored responses of the Responses API (`store`, `previous_response_id`, retrieve, delete).

A small interface (`ResponseStore`) with one implementation: SQLite, a file under the
proxy's state directory (`modelyard serve --state-dir`), in memory without one. Each stored
response belongs to the consumer that created it; any other consumer is told it does not
exist. The store is bounded: responses older than `max_age_s` are evicted, and when the
stored bytes pass `max_bytes` the oldest go first until they fit again (checked on every
write, so the bound holds without a background task).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

FILE_NAME = "responses.sqlite3"
MAX_AGE_S = 30 * 24 * 3600  # as long as OpenAI keeps a stored response
MAX_BYTES = 256 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    response TEXT NOT NULL,
    input TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored response and the whole conversation it answered (history included)."""

    response: dict[str, Any]
    input: list[dict[str, Any]]


class ResponseStore(Protocol):
    def put(self, consumer: str, response: dict[str, Any], input: list[dict[str, Any]]) -> None:
        """Keep `response` (by its id) and the input items it answered."""

    def get(self, consumer: str, id: str) -> Stored | None:
        """The response if `consumer` stored it and it was not evicted, else None."""

    def delete(self, consumer: str, id: str) -> bool:
        """Forget the response; False when `consumer` has none of that id."""


class SqliteResponseStore:
    """SQLite behind a lock: statements are short, and one connection serves the process."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        max_age_s: float = MAX_AGE_S,
        max_bytes: int = MAX_BYTES,
        clock: Any = time.time,
    ) -> None:
        self.max_age_s, self.max_bytes, self.clock = max_age_s, max_bytes, clock
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")  # workers of one host share the file
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, state_dir: Path | str | None, **kw: Any) -> SqliteResponseStore:
        if state_dir is None:
            return cls(None, **kw)
        folder = Path(state_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / FILE_NAME, **kw)

    def put(self, consumer: str, response: dict[str, Any], input: list[dict[str, Any]]) -> None:
        text, items = json.dumps(response), json.dumps(input)
        size = len(text) + len(items)
        now = self.clock()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (response["id"], consumer, now, size, text, items),
            )
            self._evict(now)

    def get(self, consumer: str, id: str) -> Stored | None:
        with self._lock:
            row = self._db.execute(
                "SELECT response, input FROM responses WHERE id = ? AND consumer = ? "
                "AND created >= ?",
                (id, consumer, self.clock() - self.max_age_s),
            ).fetchone()
        return None if row is None else Stored(json.loads(row[0]), json.loads(row[1]))

    def delete(self, consumer: str, id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM responses WHERE id = ? AND consumer = ?", (id, consumer)
            )
        return cursor.rowcount > 0

    def _evict(self, now: float) -> None:
        """Drop what is too old, then the oldest until the rest fit in `max_bytes`."""
        self._db.execute("DELETE FROM responses WHERE created < ?", (now - self.max_age_s,))
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()
        if total <= self.max_bytes:
            return
        excess = total - self.max_bytes
        doomed: list[str] = []
        for id, size in self._db.execute("SELECT id, size FROM responses ORDER BY created, id"):
            doomed.append(id)
            excess -= size
            if excess <= 0:
                break
        self._db.executemany("DELETE FROM responses WHERE id = ?", [(i,) for i in doomed])

    def close(self) -> None:
        self._db.close()
