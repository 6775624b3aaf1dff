"""The stored documents of the proxy (video jobs): owner-scoped, newest first, expiring, the
same in memory and in SQLite, and SQLite's kept across a reopen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.state.documents import DocumentStore, SQLiteDocuments

DAY = 86400.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    if request.param == "memory":
        return SQLiteDocuments(None)
    return SQLiteDocuments(tmp_path / "documents.sqlite3")


def test_documents_are_owner_scoped_newest_first_and_expire(store: DocumentStore) -> None:
    async def scenario() -> None:
        for key in ("b", "a", "c"):
            await store.put("videos", key, owner="alice", document={"n": key}, ttl_s=DAY)
        await store.put("videos", "x", owner="bob", document={"n": "x"}, ttl_s=DAY)
        await store.put("videos", "b", owner="alice", document={"n": "b2"}, ttl_s=DAY)
        await store.put("videos", "gone", owner="alice", document={"n": "gone"}, ttl_s=-1)
        await store.put("other", "a", owner="alice", document={"n": "elsewhere"}, ttl_s=DAY)
        assert await store.get("videos", "b", owner="alice") == {"n": "b2"}
        assert await store.get("videos", "b", owner="bob") is None  # someone else's
        assert await store.get("videos", "gone", owner="alice") is None  # expired
        # A replaced document keeps its place: the order is of first storing.
        assert [d["n"] for d in await store.list("videos", owner="alice")] == ["c", "a", "b2"]
        assert [d["n"] for d in await store.list("videos", owner="alice", limit=1)] == ["c"]
        assert not await store.delete("videos", "a", owner="bob")
        assert await store.delete("videos", "a", owner="alice")
        assert await store.get("videos", "a", owner="alice") is None
        assert await store.get("other", "a", owner="alice") == {"n": "elsewhere"}
        await store.aclose()

    asyncio.run(scenario())


def test_sqlite_documents_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"

    async def scenario() -> dict | None:
        first = SQLiteDocuments(path)
        await first.put("videos", "v1", owner="alice", document={"channel": "c"}, ttl_s=DAY)
        await first.aclose()
        return await SQLiteDocuments(path).get("videos", "v1", owner="alice")

    assert asyncio.run(scenario()) == {"channel": "c"}
