"""Stored responses: per consumer, bounded by age and size, kept in a file across restarts
(the embedded SQLite document store under them)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.proxy.clients.response_store import ResponseStore
from gateway.state.documents import FILE_NAME, SQLiteDocuments, open_documents


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def response(id: str, text: str = "x") -> dict:
    return {"id": id, "object": "response", "output": [{"type": "message", "text": text}]}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_response_is_visible_only_to_the_consumer_that_stored_it():
    store = ResponseStore(SQLiteDocuments(None))
    run(store.put("alice", response("resp_1"), [{"role": "user", "content": "hi"}]))
    stored = run(store.get("alice", "resp_1"))
    assert stored is not None and stored.input == [{"role": "user", "content": "hi"}]
    assert run(store.get("bob", "resp_1")) is None
    assert not run(store.delete("bob", "resp_1"))
    assert run(store.delete("alice", "resp_1"))
    assert run(store.get("alice", "resp_1")) is None


def test_responses_older_than_the_age_bound_are_gone():
    clock = Clock()
    documents = SQLiteDocuments(None, clock=clock)
    store = ResponseStore(documents, max_age_s=60)
    run(store.put("alice", response("resp_old"), []))
    clock.now += 61
    assert run(store.get("alice", "resp_old")) is None
    run(store.put("alice", response("resp_new"), []))  # writing evicts the expired rows
    assert documents._db.execute("SELECT COUNT(*) FROM documents").fetchone() == (1,)


def test_the_oldest_go_first_when_the_size_bound_is_passed():
    clock = Clock()
    store = ResponseStore(SQLiteDocuments(None, max_bytes=600, clock=clock))
    for i in range(5):
        clock.now += 1
        run(store.put("alice", response(f"resp_{i}", "y" * 100), []))
    kept = [i for i in range(5) if run(store.get("alice", f"resp_{i}")) is not None]
    assert kept and kept == list(range(5 - len(kept), 5)) and len(kept) < 5


def test_the_size_bound_counts_each_collection_apart():
    clock = Clock()
    documents = SQLiteDocuments(None, max_bytes=600, clock=clock)
    run(documents.put("videos", "v1", owner="alice", document={"n": "z" * 500}, ttl_s=60))
    store = ResponseStore(documents)
    for i in range(3):
        clock.now += 1
        run(store.put("alice", response(f"resp_{i}", "y" * 100), []))
    assert run(documents.get("videos", "v1", owner="alice")) is not None


def test_a_state_dir_keeps_responses_across_restarts(tmp_path):
    first = open_documents(tmp_path / "state")
    run(ResponseStore(first).put("alice", response("resp_1"), []))
    run(first.aclose())
    assert (tmp_path / "state" / FILE_NAME).exists()
    again = ResponseStore(open_documents(tmp_path / "state"))
    assert run(again.get("alice", "resp_1")) is not None
