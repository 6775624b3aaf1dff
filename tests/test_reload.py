"""Hot reload: atomic swaps, refused snapshots, breaker carry-over, reload under load."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.catalog.snapshot import Snapshot, canonical_json
from gateway.proxy.app import ProxyApp
from gateway.proxy.breaker import OPEN, Breakers
from gateway.proxy.reload import CatalogDir, Holder, SnapshotFile
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.upstreams.server import serve_asgi

USER = [{"role": "user", "content": "hello"}]


def versioned(n: int) -> dict:
    """Snapshot version n: the channel and its upstream model both name the version."""
    return snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("m")],
        channels=[channel(f"ch-v{n}", "m", "mock", upstream_model=f"up-v{n}")],
        consumers=[consumer("alice", KEY_ALICE)],
    )


def publish(path: Path, data: bytes) -> None:
    """The documented deploy method: write beside, then rename over the served file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_half_written_or_broken_snapshot_is_refused_and_old_one_kept(tmp_path):
    path = tmp_path / "snapshot.json"
    good = canonical_json(versioned(1))
    path.write_bytes(good)
    holder = Holder(SnapshotFile(path), environ={})
    assert holder.reload()
    digest = holder.current.snapshot.digest
    for broken in (good[: len(good) // 2], b"{}", good.replace(b"up-v1", b"up-v9")):
        path.write_bytes(broken)
        assert not holder.reload()
        assert holder.current.snapshot.digest == digest
        assert holder.status()["last_reload_error"]["message"]
    path.write_bytes(canonical_json(versioned(2)))
    assert holder.reload() and holder.status()["last_reload_error"] is None


def test_catalog_with_errors_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Model\nname: x\ntype: nonsense\n")
    holder = Holder(CatalogDir(tmp_path), environ={})
    assert not holder.reload()
    assert holder.current is None and "error" in holder.last_error


def test_circuit_state_of_unchanged_channels_survives_a_reload():
    two = snapshot_dict(
        providers=[provider("p", base_url="http://127.0.0.1:1")],
        models=[model("m")],
        channels=[channel("a", "m", "p"), channel("b", "m", "p")],
    )
    holder = Holder(None, Breakers(), environ={})
    holder.install(Snapshot.from_dict(two))
    for name in ("a", "b"):
        breaker = holder.breakers.get(
            holder.current.breaker_keys[name], holder.current.snapshot.settings.breaker
        )
        for _ in range(5):
            breaker.failure()
        assert breaker.state == OPEN
    changed = json.loads(json.dumps(two))
    changed["channels"]["b"]["upstream_model"] = "other"
    changed["models"][0]["description"] = "edited"
    del changed["digest"]
    from gateway.catalog.snapshot import digest_of

    changed["digest"] = digest_of(changed)
    holder.install(Snapshot.from_dict(changed))
    keys = holder.current.breaker_keys
    assert holder.breakers.peek(keys["a"]).state == OPEN
    assert holder.breakers.peek(keys["b"]) is None


@pytest.fixture
def served_file(tmp_path):
    path = tmp_path / "snapshot.json"
    path.write_bytes(canonical_json(versioned(0)))
    holder = Holder(SnapshotFile(path), environ={})
    with serve_asgi(ProxyApp(holder)) as url:
        yield path, holder, url


def test_new_snapshot_is_served_within_a_second(served_file):
    path, holder, url = served_file
    poll(lambda: holder.current is not None)
    publish(path, canonical_json(versioned(1)))
    took = poll(
        lambda: (
            "up-v1"
            in client(url)
            .chat.completions.create(model="m", messages=USER)
            .choices[0]
            .message.content
        )
    )
    assert took < 1.0


def test_readyz_shows_a_refused_snapshot_while_the_old_one_serves(served_file):
    path, holder, url = served_file
    poll(lambda: holder.current is not None)
    path.write_bytes(b'{"schema_version": 1, "digest": "tru')
    poll(lambda: holder.refusals >= 1)
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200
    assert (
        "JSON" in ready.json()["last_reload_error"]["message"]
        or "Expecting" in ready.json()["last_reload_error"]["message"]
    )
    reply = client(url).chat.completions.create(model="m", messages=USER)
    assert "up-v0" in reply.choices[0].message.content


def test_reload_under_load_fails_no_request_and_mixes_no_snapshots(served_file):
    path, holder, url = served_file
    poll(lambda: holder.current is not None)
    published = {0}
    failures: list[BaseException] = []
    answers: list[tuple[str, str]] = []
    done = threading.Event()

    def load(index: int) -> None:
        sdk = client(url)
        for i in range(400):  # bounded; normally ended by `done` long before
            if done.is_set():
                return
            try:
                if (index + i) % 2:
                    raw = sdk.chat.completions.with_raw_response.create(model="m", messages=USER)
                    text = raw.parse().choices[0].message.content
                else:
                    raw = sdk.chat.completions.with_raw_response.create(
                        model="m", messages=USER, stream=True
                    )
                    text = "".join(
                        c.choices[0].delta.content or "" for c in raw.parse() if c.choices
                    )
                answers.append((raw.headers["x-modelyard-channel"], text))
            except Exception as error:  # collected: the test's point is that none happen
                failures.append(error)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, 21):
            good = canonical_json(versioned(n))
            if n % 5 == 0:  # written in place, stopped half-way
                before = holder.refusals
                path.write_bytes(good[: len(good) // 2])
                poll(lambda before=before: holder.refusals > before)
            elif n % 5 == 3:  # broken: a digest that does not match
                before = holder.refusals
                publish(path, good.replace(b'"up-v', b'"UP-v'))
                poll(lambda before=before: holder.refusals > before)
                refusal = httpx.get(f"{url}/readyz").json()["last_reload_error"]
                assert "digest" in refusal["message"]
            else:
                publish(path, good)
                published.add(n)
                poll(lambda good=good: holder.current.snapshot.digest == json.loads(good)["digest"])
            time.sleep(0.02)  # let requests run on this version
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    assert len(answers) > 40
    for channel_name, text in answers:
        version = int(channel_name.removeprefix("ch-v"))
        assert version in published
        assert text == f"Mock answer from up-v{version}: hello"
    assert holder.refusals == 8


def test_sdk_sees_no_error_during_refused_reload(served_file):
    path, holder, url = served_file
    poll(lambda: holder.current is not None)
    path.write_bytes(b"garbage")
    poll(lambda: holder.refusals >= 1)
    reply = client(url).chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == "Mock answer from up-v0: hello"


def test_a_reload_forgets_the_recent_health_of_channels_it_removed():
    from tests.conftest import channel, holder_of, model, provider, snapshot_dict

    def data(*names: str) -> dict:
        return snapshot_dict(
            providers=[provider("p")],
            models=[model("m")],
            channels=[channel(n, "m", "p") for n in names],
        )

    holder = holder_of(data("keep", "drop"))
    app = ProxyApp(holder, watch=False)
    for name in ("keep", "drop"):
        app.router.stats.success(name, 0.01)
    holder.install(Snapshot.from_dict(data("keep")))
    assert app.router.stats.view("keep").requests == 1
    assert app.router.stats.view("drop").requests == 0
