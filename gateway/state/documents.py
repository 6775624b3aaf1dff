"""Stored documents with an owner and a lifetime: stored responses, video jobs and the like.

    store = open_documents(state_url, state_dir)       # SQLite file, or Redis when shared
    await store.put("responses", "resp_123", owner="alice", document={...}, ttl_s=86400)
    await store.get("responses", "resp_123", owner="alice")   # None for another owner
    await store.list("responses", owner="alice")              # newest first
    await store.delete("responses", "resp_123", owner="alice")

A document read by someone who does not own it looks exactly like a missing one, so ids
say nothing about other consumers' documents. Expired documents are never returned.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from gateway.state.base import StateUnavailable

Document = dict[str, Any]


class DocumentStore(Protocol):
    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None: ...

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None: ...

    async def delete(self, collection: str, id: str, *, owner: str) -> bool: ...

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]: ...

    async def aclose(self) -> None: ...


class SQLiteDocuments:
    """One SQLite file in the state directory; calls run off the event loop."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (collection TEXT, id TEXT, owner TEXT, "
            "body TEXT, created REAL, expires REAL, PRIMARY KEY (collection, id))"
        )
        self._lock = asyncio.Lock()

    async def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._lock:
            return await asyncio.to_thread(lambda: self._db.execute(sql, args).fetchall())

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        now = time.time()
        await self._run(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?)",
            (collection, id, owner, json.dumps(document), now, now + ttl_s),
        )

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        rows = await self._run(
            "SELECT body FROM documents WHERE collection = ? AND id = ? AND "
            "owner = ? AND expires > ?",
            (collection, id, owner, time.time()),
        )
        return json.loads(rows[0][0]) if rows else None

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        rows = await self._run(
            "DELETE FROM documents WHERE collection = ? AND id = ? AND "
            "owner = ? AND expires > ? RETURNING id",
            (collection, id, owner, time.time()),
        )
        return bool(rows)

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        now = time.time()
        await self._run("DELETE FROM documents WHERE expires <= ?", (now,))
        rows = await self._run(
            "SELECT body FROM documents WHERE collection = ? AND owner = ? "
            "ORDER BY created DESC LIMIT ?",
            (collection, owner, limit),
        )
        return [json.loads(body) for (body,) in rows]

    async def aclose(self) -> None:
        self._db.close()


class RedisDocuments:
    """One key per document (expiring with it) and a per-owner index sorted by time."""

    def __init__(self, url: str, *, prefix: str = "modelyard:doc:", timeout_s: float = 0.5) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self.prefix = prefix

    def _key(self, collection: str, id: str) -> str:
        return f"{self.prefix}{collection}:{id}"

    def _index(self, collection: str, owner: str) -> str:
        return f"{self.prefix}{collection}@{owner}"

    async def _guard(self, coro: Any) -> Any:
        import redis

        try:
            return await coro
        except (OSError, redis.RedisError) as error:
            raise StateUnavailable(f"Redis did not answer: {type(error).__name__}") from None

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        now = time.time()
        ms = max(1, int(ttl_s * 1000))
        index = self._index(collection, owner)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(
                self._key(collection, id), json.dumps({"owner": owner, "body": document}), px=ms
            )
            pipe.zadd(index, {id: now})
            pipe.pexpire(index, ms, gt=True)
            pipe.expire(index, int(ttl_s) + 1, nx=True)
            await self._guard(pipe.execute())

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        raw = await self._guard(self.client.get(self._key(collection, id)))
        if raw is None:
            return None
        stored = json.loads(raw)
        return stored["body"] if stored["owner"] == owner else None

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        if await self.get(collection, id, owner=owner) is None:
            return False
        await self._guard(self.client.delete(self._key(collection, id)))
        await self._guard(self.client.zrem(self._index(collection, owner), id))
        return True

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        ids = await self._guard(self.client.zrevrange(self._index(collection, owner), 0, limit * 2))
        out: list[Document] = []
        for id in ids:
            document = await self.get(collection, id, owner=owner)
            if document is None:  # expired: drop it from the index too
                await self._guard(self.client.zrem(self._index(collection, owner), id))
            elif len(out) < limit:
                out.append(document)
        return out

    async def aclose(self) -> None:
        await self.client.aclose()


def open_documents(state_url: str | None, state_dir: Path) -> DocumentStore:
    """Redis when the state is shared through it, else a SQLite file in `state_dir`."""
    if state_url and state_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisDocuments(state_url)
    return SQLiteDocuments(state_dir / "documents.sqlite3")
