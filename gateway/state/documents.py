"""Stored documents with an owner and a lifetime: stored responses, video jobs and the like.

    store = open_documents(state_dir, link)       # SQLite (a file, or memory), or Redis
    await store.put("responses", "resp_123", owner="alice", document={...}, ttl_s=86400)
    await store.get("responses", "resp_123", owner="alice")   # None for another owner
    await store.list("responses", owner="alice")              # newest first
    await store.delete("responses", "resp_123", owner="alice")

A document read by someone who does not own it looks exactly like a missing one, so ids
say nothing about other consumers' documents. Expired documents are never returned.
Embedded (the default), documents live in SQLite, bounded by age (each document's
lifetime) and by size (per collection, the oldest go first); shared through Redis
(`serve --state redis://...`) every replica sees them (gateway/state/redis_documents.py).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.state.redis_link import RedisLink

Document = dict[str, Any]
FILE_NAME = "documents.sqlite3"
MAX_BYTES = 256 * 1024 * 1024  # per collection, in SQLite


class DocumentStore(Protocol):
    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None: ...

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None: ...

    async def delete(self, collection: str, id: str, *, owner: str) -> bool: ...

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        """The owner's documents, newest first (by when each was first stored)."""
        ...

    async def aclose(self) -> None: ...


class SQLiteDocuments:
    """Documents in one SQLite file (WAL: the workers of a machine share it), or in memory
    without one. The queries are single-row lookups on the primary key or a short index
    scan: they run inline, behind a lock."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.max_bytes, self.clock = path, max_bytes, clock
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if path is None else str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, timeout=5, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, id TEXT NOT NULL, "
            "owner TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL, "
            "expires REAL NOT NULL, size INTEGER NOT NULL DEFAULT 0, "
            "PRIMARY KEY (collection, id))"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        if "size" not in columns:  # a file written before sizes were kept
            self._db.execute("ALTER TABLE documents ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS documents_owner ON documents (collection, owner)"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS documents_created ON documents (collection, created)"
        )

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        now, body = self.clock(), json.dumps(document)
        with self._lock:
            self._db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection, id) "
                "DO UPDATE SET owner = excluded.owner, body = excluded.body, "
                "expires = excluded.expires, size = excluded.size",
                (collection, id, owner, body, now, now + ttl_s, len(body)),
            )
            self._evict(collection, now)

    def _evict(self, collection: str, now: float) -> None:
        """Drop what expired, then the collection's oldest until the rest fit `max_bytes`."""
        self._db.execute("DELETE FROM documents WHERE expires <= ?", (now,))
        (total,) = self._db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM documents WHERE collection = ?", (collection,)
        ).fetchone()
        excess = total - self.max_bytes
        if excess <= 0:
            return
        doomed: list[tuple[str, str]] = []
        for id, size in self._db.execute(
            "SELECT id, size FROM documents WHERE collection = ? ORDER BY created, rowid",
            (collection,),
        ):
            doomed.append((collection, id))
            excess -= size
            if excess <= 0:
                break
        self._db.executemany("DELETE FROM documents WHERE collection = ? AND id = ?", doomed)

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        rows = self._run(
            "SELECT body FROM documents WHERE collection = ? AND id = ? AND "
            "owner = ? AND expires > ?",
            (collection, id, owner, self.clock()),
        )
        return json.loads(rows[0][0]) if rows else None

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        rows = self._run(
            "DELETE FROM documents WHERE collection = ? AND id = ? AND owner = ? "
            "AND expires > ? RETURNING id",
            (collection, id, owner, self.clock()),
        )
        return bool(rows)

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        rows = self._run(
            "SELECT body FROM documents WHERE collection = ? AND owner = ? AND expires > ? "
            "ORDER BY rowid DESC LIMIT ?",
            (collection, owner, self.clock(), limit),
        )
        return [json.loads(body) for (body,) in rows]

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


def open_documents(state_dir: Path | None, link: RedisLink | None = None) -> DocumentStore:
    """Redis when the state is shared through it (`link`), else SQLite under `state_dir`
    (memory without one)."""
    if link is not None:
        from gateway.state.redis_documents import RedisDocuments

        return RedisDocuments(link)
    return SQLiteDocuments(None if state_dir is None else state_dir / FILE_NAME)
