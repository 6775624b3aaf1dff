"""Small JSON documents the proxy must remember across requests (video jobs), by key.

One interface, `Documents`, with two stores: SQLite in the state directory (shared by the
workers of one machine, kept across restarts) and memory (one process, for development and
tests). Documents belong to an owner, so listing never reads another consumer's.
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


class Documents(Protocol):
    """A keyed store of JSON documents in named collections."""

    def put(self, collection: str, key: str, owner: str, document: Mapping[str, Any]) -> None: ...
    def get(self, collection: str, key: str) -> tuple[str, dict[str, Any]] | None: ...
    def delete(self, collection: str, key: str) -> None: ...
    def owned(self, collection: str, owner: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, document) of one owner, in the order they were first stored."""
        ...


class MemoryDocuments:
    """Documents of this process only."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[int, str, dict[str, Any]]] = {}
        self._added = itertools.count()  # insertion order, kept when a document is replaced

    def put(self, collection: str, key: str, owner: str, document: Mapping[str, Any]) -> None:
        old = self._rows.get((collection, key))
        order = next(self._added) if old is None else old[0]
        self._rows[(collection, key)] = (order, owner, json.loads(json.dumps(document)))

    def get(self, collection: str, key: str) -> tuple[str, dict[str, Any]] | None:
        row = self._rows.get((collection, key))
        return None if row is None else (row[1], json.loads(json.dumps(row[2])))

    def delete(self, collection: str, key: str) -> None:
        self._rows.pop((collection, key), None)

    def owned(self, collection: str, owner: str) -> list[tuple[str, dict[str, Any]]]:
        rows = sorted((order, key, doc) for (c, key), (order, o, doc) in self._rows.items()
                      if c == collection and o == owner)
        return [(key, json.loads(json.dumps(doc))) for _, key, doc in rows]


class SqliteDocuments:
    """Documents in one SQLite file (WAL mode: workers read while one writes)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=5,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, key TEXT NOT NULL, "
            "owner TEXT NOT NULL, created REAL NOT NULL, body TEXT NOT NULL, "
            "PRIMARY KEY (collection, key))")
        self._db.execute("CREATE INDEX IF NOT EXISTS documents_owner "
                         "ON documents (collection, owner)")

    def put(self, collection: str, key: str, owner: str, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, key) "
                "DO UPDATE SET body = excluded.body, owner = excluded.owner",
                (collection, key, owner, time.time(), json.dumps(document)))

    def get(self, collection: str, key: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            row = self._db.execute("SELECT owner, body FROM documents WHERE collection = ? "
                                   "AND key = ?", (collection, key)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def delete(self, collection: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE collection = ? AND key = ?",
                             (collection, key))

    def owned(self, collection: str, owner: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT key, body FROM documents WHERE collection = ? AND "
                                    "owner = ? ORDER BY rowid",
                                    (collection, owner)).fetchall()
        return [(key, json.loads(body)) for key, body in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_documents(state_dir: Path | None) -> Documents:
    """SQLite under `state_dir`, or memory when the proxy runs without one."""
    return MemoryDocuments() if state_dir is None else SqliteDocuments(state_dir)
