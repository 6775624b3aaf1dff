"""Stored responses: per consumer, bounded by age and size, kept in a file across restarts."""

from __future__ import annotations

from gateway.proxy.clients.response_store import FILE_NAME, SqliteResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def response(id: str, text: str = "x") -> dict:
    return {"id": id, "object": "response", "output": [{"type": "message", "text": text}]}


def test_a_response_is_visible_only_to_the_consumer_that_stored_it():
    store = SqliteResponseStore()
    store.put("alice", response("resp_1"), [{"role": "user", "content": "hi"}])
    stored = store.get("alice", "resp_1")
    assert stored is not None and stored.input == [{"role": "user", "content": "hi"}]
    assert store.get("bob", "resp_1") is None
    assert not store.delete("bob", "resp_1")
    assert store.delete("alice", "resp_1")
    assert store.get("alice", "resp_1") is None


def test_responses_older_than_the_age_bound_are_gone():
    clock = Clock()
    store = SqliteResponseStore(max_age_s=60, clock=clock)
    store.put("alice", response("resp_old"), [])
    clock.now += 61
    assert store.get("alice", "resp_old") is None
    store.put("alice", response("resp_new"), [])  # writing evicts the expired rows
    assert store._db.execute("SELECT COUNT(*) FROM responses").fetchone() == (1,)


def test_the_oldest_go_first_when_the_size_bound_is_passed():
    clock = Clock()
    store = SqliteResponseStore(max_bytes=600, clock=clock)
    for i in range(5):
        clock.now += 1
        store.put("alice", response(f"resp_{i}", "y" * 100), [])
    kept = [i for i in range(5) if store.get("alice", f"resp_{i}") is not None]
    assert kept and kept == list(range(5 - len(kept), 5)) and len(kept) < 5


def test_a_state_dir_keeps_responses_across_restarts(tmp_path):
    first = SqliteResponseStore.in_dir(tmp_path / "state")
    first.put("alice", response("resp_1"), [])
    first.close()
    assert (tmp_path / "state" / FILE_NAME).exists()
    again = SqliteResponseStore.in_dir(tmp_path / "state")
    assert again.get("alice", "resp_1") is not None
