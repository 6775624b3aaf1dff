"""Many replicas: three `modelyard serve --snapshot URL` processes behind a round-robin load
balancer, a snapshot rolled out to all of them, and one replica stopped during 50 streams."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import canonical_json
from tests.conftest import client, fake_upstream, poll, write_catalog
from tests.test_serve_cmd import serving
from tests.upstreams.balancer import RoundRobin
from tests.upstreams.server import serve_asgi
from tests.upstreams.snapshot_host import SnapshotHost

USER = [{"role": "user", "content": "hi"}]
POLL_S = 1.0
GRACE_S = 2.0


def compiled(tmp: Path, upstream_url: str, version: int, *, deadline_s: float = 30) -> bytes:
    """The snapshot of a one-model catalog over the fake upstream; the version names the
    upstream model, so an answer says which snapshot served it."""
    root = write_catalog(
        tmp / f"catalog-v{version}",
        version,
        upstream_url=upstream_url,
        settings=f"server: {{shutdown_deadline_s: {deadline_s}}}",
    )
    result = build(root)
    assert result.snapshot is not None, [d.text() for d in result.diagnostics]
    return canonical_json(result.snapshot)


def digest(body: bytes) -> str:
    import json

    return json.loads(body)["digest"]


@contextmanager
def replica(snapshot_url: str, *extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """One `modelyard serve --snapshot URL` process, ready; stopped (SIGKILL) if still running."""
    args = ("--snapshot", snapshot_url, "--poll-interval", str(POLL_S), *extra)
    with serving(*args, stop=signal.SIGKILL, ready_within_s=20) as (url, proc, _):
        yield url, proc


@pytest.fixture
def fleet(tmp_path):
    """Fake upstream, snapshot host, three replicas, the balancer: a dict of them."""
    with ExitStack() as stack:
        fake, upstream_url = stack.enter_context(fake_upstream())
        v1 = compiled(tmp_path, upstream_url, 1)
        host = SnapshotHost(v1)
        host_url = stack.enter_context(serve_asgi(host.app, interface="asgi3"))
        replicas = [
            stack.enter_context(
                replica(f"{host_url}/snapshot.json", "--shutdown-grace", str(GRACE_S))
            )
            for _ in range(3)
        ]
        balancer = RoundRobin([url for url, _ in replicas])
        lb_url = stack.enter_context(serve_asgi(balancer.app, lifespan="on", interface="asgi3"))
        yield {
            "fake": fake,
            "upstream_url": upstream_url,
            "host": host,
            "v1": v1,
            "replicas": replicas,
            "balancer": balancer,
            "lb": lb_url,
            "tmp": tmp_path,
        }


def serving_digest(url: str) -> str | None:
    return httpx.get(f"{url}/readyz", timeout=5).json()["digest"]


def test_new_snapshot_reaches_all_replicas_within_two_polls_without_a_failed_request(fleet):
    replicas, host, lb = fleet["replicas"], fleet["host"], fleet["lb"]
    assert {serving_digest(url) for url, _ in replicas} == {digest(fleet["v1"])}
    answers: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def traffic() -> None:
        sdk = client(lb)
        while not stop.is_set() and len(answers) < 5000:
            try:
                answers.append(
                    sdk.chat.completions.create(model="echo", messages=USER)
                    .choices[0]
                    .message.content
                )
            except Exception as error:  # every kind of failure is counted, none hidden
                failures.append(error)

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        poll(lambda: len(answers) >= 20, timeout=20)
        poll(lambda: host.answers[304] >= 3, timeout=10)  # every replica polled, unchanged
        v2 = compiled(fleet["tmp"], fleet["upstream_url"], 2)
        host.publish(v2)
        took = poll(
            lambda: all(serving_digest(url) == digest(v2) for url, _ in replicas), timeout=10
        )
        settled = len(answers)
        poll(lambda: len(answers) >= settled + 20, timeout=20)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    print(f"rollout to 3 replicas: {took:.2f} s, {len(answers)} answers, 0 failed")
    assert took <= 2 * POLL_S, f"the rollout took {took:.2f} s"
    assert failures == []
    assert any("up-v1" in a for a in answers) and all("up-v2" in a for a in answers[settled:])
    assert all(fleet["balancer"].sent[url] >= 10 for url, _ in replicas)
    assert host.answers[304] >= 3  # unchanged polls cost a 304, not a download


def test_sigterm_during_50_streams_lets_all_finish_and_exits_0(fleet):
    fake, replicas, lb = fleet["fake"], fleet["replicas"], fleet["lb"]
    victim_url, victim = replicas[0]
    fake.push(*[{"stall": "body"}] * 50)  # every stream stops after its first chunk
    streams = []
    sdk = client(lb)
    for _ in range(50):
        stream = sdk.chat.completions.create(model="echo", messages=USER, stream=True)
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        streams.append(stream)
    on_victim = fleet["balancer"].sent[victim_url]
    assert on_victim >= 16
    victim.send_signal(signal.SIGTERM)
    # Not ready at once, though still accepting connections; after the grace period not.
    ready = httpx.get(f"{victim_url}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["draining"] is True
    assert ready.headers["connection"] == "close"  # keep-alive clients go elsewhere
    poll(lambda: _refuses_connections(victim_url), timeout=GRACE_S + 5)
    assert victim.poll() is None  # still running: its streams are in flight
    fake.release()  # the upstream goes on: every stream must finish, the victim's included
    texts = [
        "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        for stream in streams
    ]
    assert all(text.strip() == "fake answer from up-v1" for text in texts), texts
    assert victim.wait(timeout=15) == 0
    assert all(proc.poll() is None for _, proc in replicas[1:])


def _refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except httpx.ConnectError:
        return True
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return False  # queued as the listening socket closed: reset; ask again
    return False


def test_a_stream_longer_than_the_shutdown_deadline_is_cut_and_the_process_exits_0(tmp_path):
    with fake_upstream() as (fake, upstream_url):
        path = tmp_path / "snapshot.json"
        path.write_bytes(compiled(tmp_path, upstream_url, 1, deadline_s=1))
        with replica(str(path)) as (url, proc):
            fake.push({"stall": "body"})  # stalls up to 10 s, far past the 1 s deadline
            stream = client(url).chat.completions.create(model="echo", messages=USER, stream=True)
            assert next(iter(stream)).choices[0].delta.role == "assistant"
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=8) == 0
            took = time.monotonic() - signalled
            with pytest.raises(Exception):  # noqa: B017 - cut: the SDK sees the stream end early
                list(stream)
    assert 1 <= took < 4


def test_sigterm_to_the_parent_drains_every_worker_during_streams_and_exits_0(tmp_path):
    with fake_upstream() as (fake, upstream_url):
        path = tmp_path / "snapshot.json"
        path.write_bytes(compiled(tmp_path, upstream_url, 1))
        workers = "--workers", "2", "--shutdown-grace", str(GRACE_S)
        with replica(str(path), *workers) as (url, proc):

            def readyz() -> httpx.Response:  # a new connection each: any worker may answer
                return httpx.get(f"{url}/readyz", timeout=5)

            answered: dict[int, int] = {}
            poll(lambda: answered.update(_worker(readyz())) or len(answered) == 2, timeout=20)
            fake.push(*[{"stall": "body"}] * 20)  # every stream stops after its first chunk
            sdk = client(url)
            streams = []
            for _ in range(20):
                stream = sdk.chat.completions.create(model="echo", messages=USER, stream=True)
                assert next(iter(stream)).choices[0].delta.role == "assistant"
                streams.append(stream)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)  # to the parent only, as an orchestrator does
            draining: dict[int, int] = {}
            took = poll(lambda: _both_503(draining, readyz), timeout=5)
            assert set(draining) == set(answered), (draining, answered)
            assert took < 1.0  # at once: the supervisor passes the signal on straight away
            poll(lambda: _refuses_connections(url), timeout=GRACE_S + 5)
            refused_after = time.monotonic() - signalled
            assert proc.poll() is None  # still running: its streams are in flight
            fake.release()
            texts = [
                "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
                for stream in streams
            ]
            assert all(text.strip() == "fake answer from up-v1" for text in texts), texts
            assert proc.wait(timeout=15) == 0
    print(
        f"\n2 workers, 20 streams: both workers seen not ready {took * 1000:.0f} ms after SIGTERM, "
        f"connections refused after {refused_after:.1f} s (grace {GRACE_S} s), all streams done"
    )
    assert GRACE_S <= refused_after < GRACE_S + 5


def _worker(answer: httpx.Response) -> dict[int, int]:
    return {answer.json()["worker"]: answer.status_code}


def _both_503(seen: dict[int, int], readyz) -> bool:
    """Ask /readyz until both workers said 503; a 200 from a worker after its 503 fails."""
    answer = readyz()
    worker = answer.json()["worker"]
    if seen.get(worker) == 503:
        assert answer.status_code == 503, "a draining worker became ready again"
    seen[worker] = answer.status_code
    return len(seen) == 2 and set(seen.values()) == {503}
