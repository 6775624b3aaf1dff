"""Stored responses and video jobs shared through Redis: two `modelyard serve` replicas on
one redis-server, driven with the official SDK. What one replica stores, the other
retrieves, continues and deletes; another consumer is told it does not exist; and while
Redis is down, what cannot be read is a quick 503 in OpenAI's shape, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import openai
import pytest
import redis as redis_client

from gateway.catalog.snapshot import digest_of
from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    consumer,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.redis_support import RedisServer, needs_redis_server
from tests.replica_support import replicas, sdk

pytestmark = needs_redis_server


def two_replica_snapshot() -> dict:
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("echo"), model("clips", type="video-generation", capabilities=[])],
        channels=[
            channel("echo@mock", "echo", "mock", upstream_model="echo-v1"),
            channel(
                "clips@mock",
                "clips",
                "mock",
                upstream_model="mock-sora",
                options={"mock_video_delay_s": 0.2},
            ),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )
    data["digest"] = digest_of(data)
    return data


@dataclass
class Pair:
    redis: RedisServer
    a: str  # fails open while Redis is down
    b: str  # fails closed


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[Pair]:
    snapshot = tmp_path_factory.mktemp("shared") / "snapshot.json"
    snapshot.write_text(json.dumps(two_replica_snapshot()))
    redis = RedisServer()
    redis.start()
    try:
        with ExitStack() as stack:
            (a,) = stack.enter_context(replicas(1, snapshot, "--state", redis.url))
            (b,) = stack.enter_context(
                replicas(1, snapshot, "--state", redis.url, "--state-unavailable", "fail_closed")
            )
            yield Pair(redis, a, b)
    finally:
        redis.stop()


def items_text(client: openai.OpenAI, id: str) -> str:
    items = client.responses.input_items.list(id).data
    return json.dumps([item.to_dict(warnings=False) for item in items])


def test_a_response_stored_on_one_replica_is_continued_retrieved_and_deleted_on_another(pair):
    alice_a, alice_b, bob_b = sdk(pair.a, KEY_ALICE), sdk(pair.b, KEY_ALICE), sdk(pair.b, KEY_BOB)
    first = alice_a.responses.create(model="echo", input="remember the word kiwi", store=True)

    retrieved = alice_b.responses.retrieve(first.id)
    assert retrieved.id == first.id and retrieved.output_text == first.output_text
    assert "kiwi" in items_text(alice_b, first.id)

    second = alice_b.responses.create(
        model="echo", input="which word?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    # Replica A sees the continuation B stored, with the whole conversation under it.
    history = items_text(alice_a, second.id)
    assert "kiwi" in history and "which word?" in history

    with pytest.raises(openai.NotFoundError):
        bob_b.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        sdk(pair.a, KEY_BOB).responses.delete(first.id)
    with pytest.raises(openai.BadRequestError, match="not found"):
        bob_b.responses.create(model="echo", input="hi", previous_response_id=first.id)

    alice_b.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        alice_a.responses.retrieve(first.id)
    assert alice_a.responses.retrieve(second.id).id == second.id


def test_stored_documents_expire_on_their_own_in_redis(pair):
    stored = sdk(pair.a, KEY_ALICE).responses.create(model="echo", input="hi")
    video = sdk(pair.a, KEY_ALICE).videos.create(model="clips", prompt="waves")
    db = redis_client.Redis.from_url(pair.redis.url)
    keys = db.keys("modelyard:doc:*")
    names = {k.decode() for k in keys}
    assert f"modelyard:doc:responses:{stored.id}" in names
    assert f"modelyard:doc:videos:{video.id}" in names
    assert all(db.pttl(k) > 0 for k in keys)  # documents and their owner indexes


def test_a_video_job_created_on_one_replica_is_polled_and_fetched_on_another(pair):
    alice_a, alice_b = sdk(pair.a, KEY_ALICE), sdk(pair.b, KEY_ALICE)
    video = alice_a.videos.create(model="clips", prompt="waves", seconds="4", size="1280x720")
    poll(lambda: alice_b.videos.retrieve(video.id).status == "completed", timeout=10)
    content = alice_b.videos.download_content(video.id).content
    assert content[4:8] == b"ftyp"
    assert video.id in [v.id for v in alice_b.videos.list()]
    with pytest.raises(openai.NotFoundError):
        sdk(pair.b, KEY_BOB).videos.retrieve(video.id)
    alice_b.videos.delete(video.id)
    with pytest.raises(openai.NotFoundError):
        alice_a.videos.retrieve(video.id)


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    try:
        return time.perf_counter() - started, call()
    except openai.APIStatusError as error:
        return time.perf_counter() - started, error


def test_redis_down_documents_answer_503_quickly_and_storing_follows_the_policy(pair):
    alice_a, alice_b = sdk(pair.a, KEY_ALICE), sdk(pair.b, KEY_ALICE)
    kept = alice_a.responses.create(model="echo", input="hi")
    video = alice_a.videos.create(model="clips", prompt="waves")
    pair.redis.stop()
    try:
        outcomes = [
            timed(lambda: alice_a.responses.retrieve(kept.id)),
            timed(lambda: alice_b.responses.retrieve(kept.id)),
            timed(
                lambda: alice_a.responses.create(
                    model="echo", input="x", previous_response_id=kept.id
                )
            ),
            timed(lambda: alice_b.videos.retrieve(video.id)),
            timed(lambda: alice_a.responses.delete(kept.id)),
        ]
        open_store = timed(lambda: alice_a.responses.create(model="echo", input="x"))
        closed_store = timed(lambda: alice_b.responses.create(model="echo", input="x"))
        unstored = alice_b.responses.create(model="echo", input="x", store=False)
    finally:
        pair.redis.start()
    for seconds, error in [*outcomes, closed_store]:
        assert isinstance(error, openai.APIStatusError) and error.status_code == 503, error
        assert error.body["code"] == "state_unavailable"  # type: ignore[index]
        assert "try again" in error.body["message"]  # type: ignore[index]
        assert seconds < 0.5
    assert not isinstance(open_store[1], openai.APIStatusError)  # served, not stored
    assert unstored.output_text
    print(f"\nRedis down: slowest document answer {max(s for s, _ in outcomes) * 1000:.0f} ms")
