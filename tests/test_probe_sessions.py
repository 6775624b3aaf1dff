"""`probe` of realtime and video models: a session that completes one response, a job the
upstream accepts (only with --include-costly); against the fakes and the mock."""

from __future__ import annotations

from contextlib import ExitStack

from gateway.catalog.snapshot import Snapshot
from gateway.usage.probe import run, select
from tests.conftest import channel, model, poll, provider, snapshot_dict
from tests.upstreams.realtime import FakeRealtime, serve_fake
from tests.upstreams.server import serve_asgi
from tests.upstreams.videos import FakeVideos

ENV = {"PROBE_KEY": "upstream-secret-0123456789"}


def catalog(realtime_ok: str, realtime_refusing: str, videos: str) -> Snapshot:
    auth = {"type": "bearer", "token": "${PROBE_KEY}"}
    return Snapshot.from_dict(
        snapshot_dict(
            providers=[
                provider("rt-ok", base_url=realtime_ok, auth=auth),
                provider("rt-busy", base_url=realtime_refusing, auth=auth),
                provider("vid", base_url=videos, auth=auth),
                provider("mock", protocol="mock"),
            ],
            models=[
                model("voice", type="realtime"),
                model("voice-busy", type="realtime"),
                model("clips", type="video-generation", properties={"durations_s": [8, 4]}),
            ],
            channels=[
                channel("voice@fake", "voice", "rt-ok", upstream_model="rt-up"),
                channel("voice@mock", "voice", "mock"),
                channel("busy@fake", "voice-busy", "rt-busy", upstream_model="rt-up"),
                channel("clips@fake", "clips", "vid", upstream_model="sora-up"),
                channel("clips@mock", "clips", "mock"),
            ],
        )
    )


def test_realtime_probed_by_one_response_and_video_only_when_costly_allowed() -> None:
    ok, busy, videos = FakeRealtime(), FakeRealtime(refuse=429), FakeVideos()
    with ExitStack() as stack:
        snap = catalog(
            stack.enter_context(serve_fake(ok)),
            stack.enter_context(serve_fake(busy)),
            f"{stack.enter_context(serve_asgi(videos.app))}/v1",
        )
        targets = select(snap, [], all_models=True, channel=None)
        cheap = {r.channel: r for r in run(snap, targets, environ=ENV, timeout_s=5).results}
        costly = {
            r.channel: r
            for r in run(snap, targets, environ=ENV, timeout_s=5, include_costly=True).results
        }
        poll(lambda: all(c.closed_at is not None for c in ok.connections))  # probes hang up
    assert cheap["voice@fake"].outcome == "usable"
    assert cheap["voice@mock"].outcome == "usable"
    assert (cheap["busy@fake"].outcome, cheap["busy@fake"].code) == ("error", "429")
    assert cheap["clips@fake"].outcome == cheap["clips@mock"].outcome == "skipped"
    assert costly["clips@fake"].outcome == costly["clips@mock"].outcome == "usable"
    assert [e["type"] for e in ok.connections[0].events] == ["response.create"]
    create = videos.requests[0]
    assert create["fields"] == {"prompt": "a dot", "seconds": "4", "model": "sora-up"}
    assert [r["method"] for r in videos.requests] == ["POST", "GET"]
