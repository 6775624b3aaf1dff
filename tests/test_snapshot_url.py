"""A snapshot polled at an HTTP URL: ETag / If-None-Match, the refusal rules of a file, and
what /readyz says about it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.catalog.snapshot import canonical_json
from gateway.proxy.app import ProxyApp, snapshot_source
from gateway.proxy.reload import Holder, SnapshotFile
from gateway.proxy.snapshot_url import SnapshotURL, redacted
from tests.conftest import client, poll
from tests.test_reload import USER, versioned
from tests.upstreams.server import serve_asgi
from tests.upstreams.snapshot_host import SnapshotHost

POLL_S = 0.1


@pytest.fixture
def published():
    """A snapshot host serving version 1, and a proxy polling it: (host, holder, proxy url)."""
    host = SnapshotHost(canonical_json(versioned(1)))
    with serve_asgi(host.app, interface="asgi3") as host_url:
        holder = Holder(SnapshotURL(f"{host_url}/snapshot.json", POLL_S), environ={})
        with serve_asgi(ProxyApp(holder)) as url:
            poll(lambda: holder.current is not None)
            yield host, holder, url


def served_model(url: str) -> str:
    return client(url).chat.completions.create(model="m", messages=USER).choices[0].message.content


def test_unchanged_snapshot_costs_a_304_per_poll_and_no_reload(published):
    host, holder, _ = published
    poll(lambda: host.answers[304] >= 3)
    assert host.answers[200] == 1 and holder.reloads == 1


def test_published_snapshot_is_served_within_two_polls(published):
    host, holder, url = published
    assert "up-v1" in served_model(url)
    host.publish(canonical_json(versioned(2)))
    took = poll(lambda: "up-v2" in served_model(url))
    assert took < 2 * POLL_S + 0.5  # the request itself and a loaded CI machine
    assert httpx.get(f"{url}/readyz").json()["digest"] == versioned(2)["digest"]


@pytest.mark.parametrize(
    "broken",
    [b'{"schema_version": 1, "digest": "tru', b"{}", "edited"],
    ids=["truncated", "empty", "edited"],
)
def test_broken_snapshot_is_refused_once_and_the_old_one_keeps_serving(published, broken):
    host, holder, url = published
    good = canonical_json(versioned(1))
    body = good.replace(b"up-v1", b"up-v9") if broken == "edited" else broken
    host.publish(body)
    poll(lambda: holder.refusals == 1)
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and ready.json()["digest"] == versioned(1)["digest"]
    assert ready.json()["last_reload_error"]["message"]
    assert "up-v1" in served_model(url)
    fetched = host.answers[200]
    poll(lambda: host.answers[304] >= 3)  # the same broken body is not fetched again
    assert host.answers[200] == fetched and holder.refusals == 1
    host.publish(canonical_json(versioned(3)))
    poll(lambda: "up-v3" in served_model(url))
    assert httpx.get(f"{url}/readyz").json()["last_reload_error"] is None


def test_an_unreachable_or_failing_url_is_said_in_readyz_once_while_serving_on(published):
    host, holder, url = published
    host.fail_with(503)
    poll(lambda: holder.refusals == 1)
    error = httpx.get(f"{url}/readyz").json()["last_reload_error"]["message"]
    assert "answered 503" in error and "snapshot.json" in error
    polled = host.answers[304]
    assert "up-v1" in served_model(url)
    host.publish(canonical_json(versioned(4)))  # first, so no poll in between sees a 304
    host.fail_with(None)
    poll(lambda: "up-v4" in served_model(url))
    assert holder.refusals == 1 and host.answers[304] == polled


def test_first_fetch_failing_leaves_the_proxy_not_ready_until_the_url_answers():
    host = SnapshotHost(canonical_json(versioned(1)))
    host.fail_with(404)
    with serve_asgi(host.app, interface="asgi3") as host_url:
        holder = Holder(SnapshotURL(f"{host_url}/snapshot.json", POLL_S), environ={})
        with serve_asgi(ProxyApp(holder)) as url:
            assert httpx.get(f"{url}/readyz").status_code == 503
            host.fail_with(None)
            poll(lambda: httpx.get(f"{url}/readyz").status_code == 200)
            assert "up-v1" in served_model(url)


def test_credentials_and_query_of_the_url_never_reach_readyz_or_the_log(caplog):
    source = SnapshotURL("http://user:s3cret@127.0.0.1:9/snap.json?sig=t0ken", POLL_S)
    holder = Holder(source, environ={})
    assert not holder.reload()
    assert "s3cret" not in holder.last_error and "t0ken" not in holder.last_error
    assert "127.0.0.1:9/snap.json" in holder.last_error
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    assert redacted(source.url) == "http://127.0.0.1:9/snap.json"


def test_polling_stops_when_asked():
    source = SnapshotURL("http://127.0.0.1:9/snapshot.json", 30)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(anext(source.changes(stop), None))
        await asyncio.sleep(0.05)
        stop.set()
        assert await asyncio.wait_for(task, 1) is None

    asyncio.run(run())


def test_serve_sources_by_the_form_of_the_argument(tmp_path):
    assert isinstance(snapshot_source("https://cdn.example/s.json", None, 5), SnapshotURL)
    assert snapshot_source("https://cdn.example/s.json", None, 5).poll_interval_s == 5
    assert isinstance(snapshot_source(str(tmp_path / "s.json"), None), SnapshotFile)
    with pytest.raises(ValueError):
        SnapshotURL("https://cdn.example/s.json", 0)


def test_a_host_without_etags_reloads_only_when_the_body_changes():
    host = SnapshotHost(canonical_json(versioned(1)))
    host.etag_enabled = False
    with serve_asgi(host.app, interface="asgi3") as host_url:
        holder = Holder(SnapshotURL(f"{host_url}/snapshot.json", POLL_S), environ={})
        with serve_asgi(ProxyApp(holder)) as url:
            poll(lambda: holder.current is not None)
            poll(lambda: host.answers[200] >= 4)
            assert holder.reloads == 1 and host.answers[304] == 0
            host.publish(canonical_json(versioned(2)))
            poll(lambda: "up-v2" in served_model(url))
            assert holder.reloads == 2
