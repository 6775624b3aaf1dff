"""The stored documents of the proxy (video jobs): by key, per owner, in insertion order,
the same in memory and in SQLite, and SQLite's kept across a reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.proxy.documents import Documents, MemoryDocuments, SqliteDocuments


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Documents:
    return MemoryDocuments() if request.param == "memory" else SqliteDocuments(tmp_path)


def test_documents_by_key_owner_and_order(store: Documents) -> None:
    for key in ("b", "a", "c"):
        store.put("videos", key, "alice", {"n": key})
    store.put("videos", "x", "bob", {"n": "x"})
    store.put("videos", "b", "alice", {"n": "b2"})  # replaced: keeps its place
    store.put("other", "a", "alice", {"n": "elsewhere"})
    assert store.get("videos", "b") == ("alice", {"n": "b2"})
    assert [k for k, _ in store.owned("videos", "alice")] == ["b", "a", "c"]
    assert store.owned("videos", "bob") == [("x", {"n": "x"})]
    store.delete("videos", "a")
    assert store.get("videos", "a") is None
    assert store.get("other", "a") == ("alice", {"n": "elsewhere"})


def test_sqlite_documents_survive_a_reopen(tmp_path: Path) -> None:
    SqliteDocuments(tmp_path).put("videos", "v1", "alice", {"channel": "c"})
    assert SqliteDocuments(tmp_path).get("videos", "v1") == ("alice", {"channel": "c"})
