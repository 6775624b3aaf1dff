"""Small JSON documents the proxy must remember across requests (video jobs), by owner.

The interface, `DocumentStore`, is the one of the shared state package being built for
quotas (gateway/state/documents.py): async, owner-scoped, with a lifetime. A document read
by someone who does not own it looks exactly like a missing one. Two stores here: SQLite in
the state directory (shared by the workers of one machine, kept across restarts) and
memory (one process, for development and tests).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

FILE_NAME = "documents.sqlite3"
Document = dict[str, Any]


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


def _copy(document: Mapping[str, Any]) -> Document:
    return json.loads(json.dumps(document))


class MemoryDocuments:
    """Documents of this process only."""

    def __init__(self) -> None:
        # (collection, id) -> (insertion number, owner, expires, document)
        self._rows: dict[tuple[str, str], tuple[int, str, float, Document]] = {}
        self._added = itertools.count()

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        old = self._rows.get((collection, id))
        order = next(self._added) if old is None else old[0]  # a replaced one keeps its place
        self._rows[(collection, id)] = (order, owner, time.time() + ttl_s, _copy(document))

    def _live(self, collection: str, id: str, owner: str) -> Document | None:
        row = self._rows.get((collection, id))
        if row is None or row[1] != owner or row[2] <= time.time():
            return None
        return row[3]

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        document = self._live(collection, id, owner)
        return None if document is None else _copy(document)

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        if self._live(collection, id, owner) is None:
            return False
        del self._rows[(collection, id)]
        return True

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        now = time.time()
        rows = sorted(
            (
                (order, doc)
                for (c, _), (order, o, expires, doc) in self._rows.items()
                if c == collection and o == owner and expires > now
            ),
            key=lambda row: row[0],
            reverse=True,
        )
        return [_copy(doc) for _, doc in rows[:limit]]

    async def aclose(self) -> None:
        self._rows.clear()


class SQLiteDocuments:
    """Documents in one SQLite file (WAL: the workers of a machine share it). The queries
    are single-row lookups on the primary key or a short owner index scan: run inline."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=5, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, id TEXT NOT NULL, "
            "owner TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (collection, id))"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS documents_owner ON documents (collection, owner)"
        )

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        now = time.time()
        self._run(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (collection, id) "
            "DO UPDATE SET owner = excluded.owner, body = excluded.body, "
            "expires = excluded.expires",
            (collection, id, owner, json.dumps(document), now, now + ttl_s),
        )

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        rows = self._run(
            "SELECT body FROM documents WHERE collection = ? AND id = ? AND "
            "owner = ? AND expires > ?",
            (collection, id, owner, time.time()),
        )
        return json.loads(rows[0][0]) if rows else None

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        rows = self._run(
            "DELETE FROM documents WHERE collection = ? AND id = ? AND owner = ? "
            "AND expires > ? RETURNING id",
            (collection, id, owner, time.time()),
        )
        return bool(rows)

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        now = time.time()
        self._run("DELETE FROM documents WHERE expires <= ?", (now,))
        rows = self._run(
            "SELECT body FROM documents WHERE collection = ? AND owner = ? "
            "ORDER BY rowid DESC LIMIT ?",
            (collection, owner, limit),
        )
        return [json.loads(body) for (body,) in rows]

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


def open_documents(state_dir: Path | None) -> DocumentStore:
    """SQLite under `state_dir`, or memory when the proxy runs without one."""
    return MemoryDocuments() if state_dir is None else SQLiteDocuments(state_dir / FILE_NAME)
