"""Stored documents in Redis, so every replica can read what any of them stored.

One key per document, expiring with it (`PX`), and a sorted index per owner and collection
(by time first stored) for listing, which expires once its last document has. Calls go
through the shared `RedisLink`: bounded by its timeout, answered at once while Redis is
down. A call that cannot reach Redis raises `DocumentsUnavailable` (503, OpenAI's shape).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gateway.errors import DocumentsUnavailable
from gateway.state.base import StateUnavailable
from gateway.state.documents import Document
from gateway.state.redis_link import RedisLink

T = TypeVar("T")
PREFIX = "modelyard:doc:"


class RedisDocuments:
    def __init__(self, link: RedisLink, *, prefix: str = PREFIX) -> None:
        self.link = link
        self.client = link.client
        self.prefix = prefix

    def _key(self, collection: str, id: str) -> str:
        return f"{self.prefix}{collection}:{id}"

    def _index(self, collection: str, owner: str) -> str:
        return f"{self.prefix}{collection}@{owner}"

    async def _call(self, collection: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self.link.call(make)
        except StateUnavailable:
            raise DocumentsUnavailable(
                f"Stored {collection} cannot be reached right now (the state backend does "
                "not answer); try again shortly.",
                headers={"retry-after": "1"},
            ) from None

    async def put(
        self, collection: str, id: str, *, owner: str, document: Mapping[str, Any], ttl_s: float
    ) -> None:
        ms = max(1, int(ttl_s * 1000))
        index = self._index(collection, owner)
        key, body = self._key(collection, id), json.dumps({"owner": owner, "body": document})

        async def write() -> Any:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(key, body, px=ms)
                pipe.zadd(index, {id: time.time()}, nx=True)  # a replaced one keeps its place
                pipe.pexpire(index, ms, gt=True)  # the index lives as long as its last entry
                pipe.pexpire(index, ms, nx=True)
                return await pipe.execute()

        await self._call(collection, write)

    def _owned(self, raw: str | bytes | None, owner: str) -> Document | None:
        if raw is None:
            return None
        stored = json.loads(raw)
        return stored["body"] if stored["owner"] == owner else None  # type: ignore[no-any-return]

    async def get(self, collection: str, id: str, *, owner: str) -> Document | None:
        raw = await self._call(collection, lambda: self.client.get(self._key(collection, id)))
        return self._owned(raw, owner)

    async def delete(self, collection: str, id: str, *, owner: str) -> bool:
        if await self.get(collection, id, owner=owner) is None:
            return False
        key, index = self._key(collection, id), self._index(collection, owner)

        async def remove() -> Any:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.zrem(index, id)
                return await pipe.execute()

        await self._call(collection, remove)
        return True

    async def list(self, collection: str, *, owner: str, limit: int = 100) -> list[Document]:
        index = self._index(collection, owner)
        found = await self._call(collection, lambda: self.client.zrevrange(index, 0, limit * 2))
        ids: list[str] = [str(id) for id in found]  # the client decodes replies
        if not ids:
            return []
        keys = [self._key(collection, id) for id in ids]
        raws = await self._call(collection, lambda: self.client.mget(keys))
        out: list[Document] = []
        gone: list[str] = []
        for id, raw in zip(ids, raws, strict=True):
            document = self._owned(raw, owner)
            if document is None:
                gone.append(id)  # expired: its index entry goes too
            elif len(out) < limit:
                out.append(document)
        if gone:
            await self._call(collection, lambda: self.client.zrem(index, *gone))
        return out

    async def aclose(self) -> None:
        return None  # the link belongs to the state backend, which closes it
