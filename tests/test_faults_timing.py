"""Deadlines and cancellation under upstream faults: the total deadline, first chunk, disconnects."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.proxy.app import ProxyApp
from tests.conftest import KEY_ALICE, holder_of, running_proxy
from tests.fault_support import ENV, TOLERANCE_S, USER, LoopSpy, ask, fault_catalog, settle
from tests.upstreams.faulty import FaultyOpenAI, faulty_upstream
from tests.upstreams.server import serve_asgi

TIGHT_S = 1.0


@pytest.fixture
def tight() -> Iterator[tuple[FaultyOpenAI, str]]:
    """A proxy whose total deadline (1 s) is shorter than its first-byte timeout (2 s)."""
    with (
        faulty_upstream() as (fake, url),
        running_proxy(
            fault_catalog(url, total_timeout_s=TIGHT_S, first_byte_timeout_s=2 * TIGHT_S),
            environ=ENV,
        ) as (proxy, _),
    ):
        yield fake, proxy


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_total_deadline_holds_across_slow_channels(tight, stream):
    fake, proxy = tight
    fake.push({"stall": "headers"}, {"stall": "headers"}, {"stall": "headers"})
    result = ask(proxy, stream=stream)
    assert (result.status, result.code) == (504, "deadline_exceeded")
    assert TIGHT_S - 0.1 <= result.elapsed <= TIGHT_S + TOLERANCE_S


def test_total_deadline_holds_for_a_stream_that_trickles_past_it(tight):
    fake, proxy = tight
    fake.push({"trickle": 0.3}, model="a")  # eight events: 2.4 s
    result = ask(proxy, stream=True)
    assert result.elapsed <= TIGHT_S + TOLERANCE_S
    assert (result.status, result.mid_stream_error, result.code) == (200, True, "deadline_exceeded")
    assert "fake answer from a".startswith(result.text.strip())


IDLE_S = 0.5


@pytest.fixture
def idle() -> Iterator[tuple[FaultyOpenAI, str]]:
    """A proxy whose first-byte timeout (0.5 s, also the longest silence between two reads
    of a stream) is far shorter than its total deadline (10 s)."""
    with (
        faulty_upstream() as (fake, url),
        running_proxy(
            fault_catalog(url, total_timeout_s=10, first_byte_timeout_s=IDLE_S), environ=ENV
        ) as (proxy, _),
    ):
        yield fake, proxy


def test_a_stream_is_timed_by_the_silence_between_reads_not_by_its_length(idle):
    """Events 0.15 s apart run past the 0.5 s limit in all, and the stream goes on; the
    silence after its fifth event ends it 0.5 s after the last read, with an error event,
    and the upstream connection is closed (gateway/proxy/timeout.py, IdleTimeout)."""
    fake, proxy = idle
    fake.push({"trickle": 0.15, "stall_after": 5}, model="a")  # the role and four words
    result = ask(proxy, "m1", stream=True)
    assert (result.status, result.mid_stream_error, result.code) == (200, True, "upstream_timeout")
    assert result.text == "fake answer from a "
    assert 5 * 0.15 + IDLE_S - 0.1 <= result.elapsed <= 5 * 0.15 + IDLE_S + TOLERANCE_S
    settle(lambda: fake.active_streams == 0)


@pytest.fixture
def spied() -> Iterator[tuple[FaultyOpenAI, str, LoopSpy]]:
    """A proxy with generous timeouts (only a disconnect ends a stall fast), its loop spied on."""
    with faulty_upstream() as (fake, url):
        holder = holder_of(fault_catalog(url, first_byte_timeout_s=5, total_timeout_s=10), ENV)
        spy = LoopSpy(ProxyApp(holder, rng=random.Random(1)))
        with serve_asgi(spy) as proxy:
            assert ask(proxy, "m1", stream=True).status == 200  # pools and tasks at rest
            yield fake, proxy, spy


def test_client_disconnect_before_the_answer_cancels_the_upstream_request(spied):
    fake, proxy, spy = spied
    baseline = spy.tasks()
    fake.push({"stall": "headers"}, model="a")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{proxy}/v1/chat/completions",
            timeout=0.3,
            json={"model": "m1", "messages": USER},
            headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
    settle(lambda: fake.disconnects == 1)
    settle(lambda: spy.tasks() <= baseline)


QUICK_READ = httpx.Timeout(5, read=1)


def test_first_streamed_chunk_reaches_the_client_while_the_upstream_pauses(spied):
    fake, proxy, _ = spied
    fake.push({"stall": "body"}, model="a")  # one event, then silence for first_byte_timeout_s
    with (
        httpx.Client(headers={"Authorization": f"Bearer {KEY_ALICE}"}, timeout=QUICK_READ) as http,
        http.stream(
            "POST",
            f"{proxy}/v1/chat/completions",
            json={"model": "m1", "messages": USER, "stream": True},
        ) as response,
    ):
        first = next(response.iter_lines())
    assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["role"] == "assistant"


@pytest.mark.parametrize(
    "behaviour", [{"trickle": 0.3}, {"stall": "body"}], ids=["trickle", "stall"]
)
def test_client_disconnect_mid_stream_cancels_the_upstream_stream(spied, behaviour):
    fake, proxy, spy = spied
    baseline = spy.tasks()
    fake.push(behaviour, model="a")
    with (
        httpx.Client(headers={"Authorization": f"Bearer {KEY_ALICE}"}, timeout=QUICK_READ) as http,
        http.stream(
            "POST",
            f"{proxy}/v1/chat/completions",
            json={"model": "m1", "messages": USER, "stream": True},
        ) as response,
    ):
        assert response.status_code == 200
        chunks = response.iter_raw()  # kept: dropping the iterator would close the response
        assert next(chunks).startswith(b"data: ")
        assert fake.active_streams == 1
    settle(lambda: fake.active_streams == 0)
    settle(lambda: spy.tasks() <= baseline)
    assert len(fake.requests) == 2  # the warm-up and this one: nothing retried


def test_many_clients_leaving_mid_stream_leave_nothing_running(spied):
    fake, proxy, spy = spied
    baseline = spy.tasks()
    fake.push(*[{"trickle": 0.2}] * 20, model="a")

    def leave_after_first_chunk(_: int) -> bytes:
        with (
            httpx.Client(
                headers={"Authorization": f"Bearer {KEY_ALICE}"}, timeout=QUICK_READ
            ) as http,
            http.stream(
                "POST",
                f"{proxy}/v1/chat/completions",
                json={"model": "m1", "messages": USER, "stream": True},
            ) as response,
        ):
            chunks = response.iter_raw()
            return next(chunks)

    with ThreadPoolExecutor(10) as pool:
        firsts = list(pool.map(leave_after_first_chunk, range(20)))
    assert all(first.startswith(b"data: ") for first in firsts)
    settle(lambda: fake.active_streams == 0)
    settle(lambda: spy.tasks() <= baseline)
    assert len(fake.requests) == 21  # the warm-up and one each: nothing retried
