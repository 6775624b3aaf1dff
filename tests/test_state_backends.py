"""Both state backends behave alike: all-or-none admission, settlement, expiry, documents;
and Redis never holds a request longer than its timeout when it is gone."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.state import (
    CONCURRENT,
    SPEND,
    WINDOW,
    Check,
    EmbeddedState,
    RedisDocuments,
    RedisLink,
    Settlement,
    SQLiteDocuments,
    StateUnavailable,
    open_state,
)
from gateway.state.redis_backend import RedisState
from tests.redis_support import needs_redis, shared_redis
from tests.upstreams.server import free_port


@pytest.fixture(scope="module")
def redis() -> Iterator:
    with shared_redis() as server:
        yield server


@pytest.fixture(params=["embedded", pytest.param("redis", marks=needs_redis)])
def backend(request):
    """A function that runs `body(state)` on a fresh backend of each kind, in one loop."""
    if request.param == "embedded":
        make = EmbeddedState
    else:
        url = request.getfixturevalue("redis").url
        prefix = f"t{time.monotonic_ns()}:"

        def make():
            return RedisState(url, timeout_s=0.5, prefix=prefix)

    def drive(body):
        async def go():
            state = make()
            try:
                await body(state)
            finally:
                await state.aclose()

        asyncio.run(go())

    return drive


def rpm(key: str, limit: int, cost: int = 1) -> Check:
    return Check(key, WINDOW, limit, cost, "60", 125)


def test_window_admits_up_to_its_limit_then_refuses(backend):
    async def go(backend):
        results = [(await backend.admit([rpm("a", 5)], entry=str(i))).admitted for i in range(7)]
        assert results == [True] * 5 + [False] * 2
        refused = await backend.admit([rpm("a", 5)])
        assert refused.failed == 0 and refused.readings[0].window.remaining() == 0
        assert 59 <= refused.readings[0].window.wait_s <= 60

    backend(go)


def test_admission_is_all_or_none(backend):
    async def go(backend):
        assert (await backend.admit([rpm("wide", 10), rpm("narrow", 1)], entry="a")).admitted
        refused = await backend.admit([rpm("wide", 10), rpm("narrow", 1)], entry="b")
        assert not refused.admitted and refused.failed == 1
        # The refused request took nothing from the wide limit.
        peek = await backend.admit([rpm("wide", 10)], commit=False)
        assert peek.readings[0].window.used == 1

    backend(go)


def test_token_reservation_is_settled_with_the_real_count(backend):
    async def go(backend):
        admitted = await backend.admit([rpm("tpm", 100, cost=80)], entry="r1")
        assert admitted.admitted and admitted.readings[0].window.used == 80
        assert not (await backend.admit([rpm("tpm", 100, cost=30)], entry="r2")).admitted
        await backend.settle([Settlement("tpm", WINDOW, 20 - 80, "r1|80", 125)])  # used 20
        assert (await backend.admit([rpm("tpm", 100, cost=30)], entry="r3")).admitted
        peek = await backend.admit([rpm("tpm", 100, cost=0)], commit=False)
        assert peek.readings[0].window.used == 50

    backend(go)


def test_concurrency_is_given_back_when_requests_settle(backend):
    async def go(backend):
        check = Check("inflight", CONCURRENT, 2, 1, "", 60)
        assert (await backend.admit([check])).admitted
        assert (await backend.admit([check])).admitted
        assert not (await backend.admit([check])).admitted
        await backend.settle([Settlement("inflight", CONCURRENT, -1, "", 60)])
        assert (await backend.admit([check])).admitted

    backend(go)


def test_spend_stops_admission_once_the_budget_is_reached(backend):
    async def go(backend):
        budget = Check("day", SPEND, 1000, 0, "d20261204", 3600)
        assert (await backend.admit([budget])).admitted
        await backend.settle([Settlement("day", SPEND, 600, "d20261204", 3600)])
        assert (await backend.admit([budget])).admitted  # 600 < 1000: one more may go
        await backend.settle([Settlement("day", SPEND, 600, "d20261204", 3600)])
        refused = await backend.admit([budget])
        assert not refused.admitted and refused.readings[0].value == 1200
        other_day = Check("day", SPEND, 1000, 0, "d20261205", 3600)
        assert (await backend.admit([other_day])).admitted

    backend(go)


@needs_redis
def test_redis_counters_expire_on_their_own(redis):
    import redis as redis_client

    prefix = f"ttl{time.monotonic_ns()}:"

    async def go():
        state = RedisState(redis.url, timeout_s=0.5, prefix=prefix)
        await state.admit([rpm("k", 5), Check("c", CONCURRENT, 5, 1, "", 90)])
        await state.settle([Settlement("s", SPEND, 7, "d1", 172800)])
        await state.aclose()

    asyncio.run(go())
    client = redis_client.Redis.from_url(redis.url)
    keys = client.keys(f"{prefix}*")
    assert len(keys) == 4  # the window's log and sum, in flight, the day's spend
    assert all(0 < client.ttl(k) <= 172800 for k in keys)


def test_an_unreachable_redis_is_reported_within_the_timeout():
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0")

    async def go():
        started = time.perf_counter()
        with pytest.raises(StateUnavailable):
            await state.admit([rpm("k", 5)])
        first = time.perf_counter() - started
        started = time.perf_counter()
        with pytest.raises(StateUnavailable):  # held down: answered at once
            await state.admit([rpm("k", 5)])
        assert time.perf_counter() - started < 0.005
        await state.aclose()
        return first

    assert asyncio.run(go()) < 0.06


def test_a_redis_that_never_answers_costs_at_most_the_timeout():
    # A loopback listener that accepts connections and never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        state = RedisState(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")

        async def go():
            started = time.perf_counter()
            with pytest.raises(StateUnavailable):
                await state.admit([rpm("k", 5)])
            await state.aclose()
            return time.perf_counter() - started

        assert asyncio.run(go()) < 0.07


def test_state_urls_name_the_backend():
    assert open_state(None).name == "embedded"
    assert open_state("embedded").name == "embedded"
    assert open_state("redis://127.0.0.1:1/0").name == "redis"
    with pytest.raises(ValueError, match="--state"):
        open_state("memcached://x")


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis)])
def documents(request, tmp_path: Path):
    """A function that runs `body(store)` on a fresh document store of each kind."""
    if request.param == "sqlite":

        def make():
            return SQLiteDocuments(tmp_path / "state" / "documents.sqlite3")
    else:
        url = request.getfixturevalue("redis").url

        def make():
            return RedisDocuments(RedisLink(url, timeout_s=0.5), prefix=f"d{time.monotonic_ns()}:")

    def drive(body):
        async def go():
            store = make()
            try:
                await body(store)
            finally:
                await store.aclose()
                if isinstance(store, RedisDocuments):
                    await store.link.aclose()

        asyncio.run(go())

    return drive


def test_documents_are_seen_only_by_their_owner_until_they_expire(documents):
    async def go(documents):
        await documents.put("responses", "r1", owner="alice", document={"n": 1}, ttl_s=60)
        await documents.put("responses", "r2", owner="alice", document={"n": 2}, ttl_s=0.05)
        await documents.put("responses", "r3", owner="bob", document={"n": 3}, ttl_s=60)
        assert await documents.get("responses", "r1", owner="alice") == {"n": 1}
        assert await documents.get("responses", "r1", owner="bob") is None
        assert not await documents.delete("responses", "r1", owner="bob")
        deadline = time.monotonic() + 5
        while await documents.get("responses", "r2", owner="alice") is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await documents.list("responses", owner="alice") == [{"n": 1}]
        assert await documents.delete("responses", "r1", owner="alice")
        assert await documents.get("responses", "r1", owner="alice") is None

    documents(go)
