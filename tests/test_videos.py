"""Video jobs through the proxy with the official SDK: against a fake Videos API upstream and
against the mock; jobs bound to their channel and consumer, billed per second when done."""

from __future__ import annotations

import asyncio
import json
import random
import struct
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.proxy.adapters import mock_media
from gateway.proxy.adapters.mock_video import mp4
from gateway.proxy.app import ProxyApp
from gateway.state.documents import SQLiteDocuments
from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    client,
    consumer,
    failover_chain,
    holder_of,
    model,
    poll,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.server import serve_asgi
from tests.upstreams.videos import FakeVideos

PIXEL = mock_media.png(b"\x10\x80\xf0", side=1)
PRICE = {"currency": "USD", "unit": "per_second", "video": "0.10", "videos": {"1280x720": "0.30"}}


def catalog(urls: list[str]) -> dict:
    providers, channels = failover_chain(
        "clips", urls, key_env="VID_KEY", prefix="v", upstream_model="sora-up", price=PRICE
    )
    return snapshot_dict(
        providers=[
            *providers,
            provider("mock", protocol="mock"),
        ],
        models=[
            model(
                "clips",
                type="video-generation",
                capabilities=[],
                properties={"sizes": ["1280x720", "720x1280"], "durations_s": [4, 8]},
            ),
            model("clips-mock", type="video-generation", capabilities=[]),
            model("chatty"),
        ],
        channels=[
            *channels,
            channel(
                "v-mock",
                "clips-mock",
                "mock",
                upstream_model="mock-sora",
                price=PRICE,
                options={"mock_video_delay_s": 0.2},
            ),
            channel("chat-mock", "chatty", "mock"),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )


@contextmanager
def setup(
    *fakes: FakeVideos, usage_log: Path | None = None, state_dir: Path | None = None
) -> Iterator[str]:
    with ExitStack() as stack:
        urls = [f"{stack.enter_context(serve_asgi(f.app))}/v1" for f in fakes]
        holder = holder_of(catalog(urls), {"VID_KEY": "upstream-secret"})
        app = ProxyApp(
            holder,
            rng=random.Random(1),
            usage_log=str(usage_log) if usage_log else None,
            state_dir=state_dir,
        )
        yield stack.enter_context(serve_asgi(app))


def until_completed(sdk: openai.OpenAI, video_id: str) -> Any:
    seen: list[Any] = []
    poll(lambda: seen.append(sdk.videos.retrieve(video_id)) or seen[-1].status == "completed")
    return seen


def boxes(data: bytes) -> dict[bytes, bytes]:
    """Top-level ISO BMFF boxes by type (read independently of the proxy's writer)."""
    out, at = {}, 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        assert size >= 8 and at + size <= len(data), "box runs past the end"
        out[kind] = data[at + 8 : at + size]
        at += size
    return out


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sdk_create_poll_download_against_fake_billed_per_second_by_size(tmp_path: Path) -> None:
    usage_log = tmp_path / "usage.jsonl"
    fake = FakeVideos()
    with setup(fake, usage_log=usage_log) as url:
        sdk = client(url)
        video = sdk.videos.create(
            model="clips",
            prompt="a red kite",
            seconds="8",
            size="1280x720",
            input_reference=("kite.png", PIXEL, "image/png"),
        )
        states = until_completed(sdk, video.id)
        content = sdk.videos.download_content(video.id).content
        poll(lambda: any(line["cost"] not in (None, "0") for line in log_lines(usage_log)))
    assert video.id.startswith("video_") and video.model == "clips"
    assert [s.status for s in states] == ["in_progress", "completed"]
    assert states[-1].id == video.id and states[-1].seconds == "8"
    (upstream_id,) = fake.jobs
    assert content == mp4(8, 1280, 720, upstream_id.encode())  # the fake's bytes, relayed
    create = fake.requests[0]
    assert create["fields"] == {
        "prompt": "a red kite",
        "seconds": "8",
        "size": "1280x720",
        "model": "sora-up",
    }
    assert create["authorization"] == "Bearer upstream-secret"
    assert create["files"] == [("kite.png", "image/png", PIXEL)]  # the reference, unchanged
    billed = [line for line in log_lines(usage_log) if line["usage"].get("video_seconds")]
    assert len(billed) == 1
    assert billed[0]["usage"] == {"video_seconds": "8", "video_size": "1280x720"}
    assert billed[0]["cost"] == "2.4" and billed[0]["channel"] == "v0"


def test_sdk_against_the_mock_gets_a_valid_mp4(tmp_path: Path) -> None:
    usage_log = tmp_path / "usage.jsonl"
    with setup(usage_log=usage_log) as url:
        sdk = client(url)
        video = sdk.videos.create(model="clips-mock", prompt="waves", seconds="4", size="1792x1024")
        until_completed(sdk, video.id)
        data = sdk.videos.download_content(video.id).content
        poll(lambda: any(line["usage"].get("video_seconds") for line in log_lines(usage_log)))
    top = boxes(data)
    assert list(top) == [b"ftyp", b"moov", b"mdat"]
    assert top[b"ftyp"][:4] == b"isom"
    moov = boxes(top[b"moov"])
    timescale, duration = struct.unpack(">II", moov[b"mvhd"][12:20])
    assert duration / timescale == 4
    tkhd = boxes(moov[b"trak"])[b"tkhd"]
    assert struct.unpack(">II", tkhd[-8:]) == (1792 << 16, 1024 << 16)
    line = next(x for x in log_lines(usage_log) if x["usage"].get("video_seconds"))
    assert line["cost"] == "0.4"  # 4 s at the default 0.10: 1792x1024 has no price of its own


def test_job_of_another_consumer_is_not_found_and_not_listed() -> None:
    fake = FakeVideos()
    with setup(fake) as url:
        mine = client(url).videos.create(model="clips", prompt="mine")
        other = client(url, KEY_BOB)
        for call in (
            lambda: other.videos.retrieve(mine.id),
            lambda: other.videos.download_content(mine.id),
            lambda: other.videos.delete(mine.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert [v.id for v in other.videos.list()] == []
        assert [v.id for v in client(url).videos.list()] == [mine.id]
    assert [r["method"] for r in fake.requests] == ["POST"]  # nothing reached the upstream


def test_create_fails_over_and_the_job_stays_bound_to_its_channel() -> None:
    refusing, healthy = FakeVideos(refuse_create=503, name="a"), FakeVideos(name="b")
    with setup(refusing, healthy) as url:
        sdk = client(url)
        video = sdk.videos.create(model="clips", prompt="bound")
        until_completed(sdk, video.id)
        deleted = sdk.videos.delete(video.id)
        with pytest.raises(openai.NotFoundError):
            sdk.videos.retrieve(video.id)
    assert [r["method"] for r in refusing.requests] == ["POST"]
    assert [r["method"] for r in healthy.requests] == ["POST", "GET", "GET", "DELETE"]
    assert deleted.deleted and deleted.id == video.id


@pytest.mark.parametrize(
    "fields, param",
    [
        ({"size": "1024x1792"}, "size"),
        ({"seconds": "12"}, "seconds"),
        ({"seconds": "four"}, "seconds"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_sizes_and_seconds_the_model_does_not_offer_are_refused(fields: dict, param: str) -> None:
    fake = FakeVideos()
    with setup(fake) as url:
        with pytest.raises(openai.BadRequestError) as info:
            client(url).videos.create(**{"model": "clips", "prompt": "x", **fields})
    assert info.value.body["param"] == param
    assert fake.requests == []


def test_video_request_for_a_chat_model_is_refused() -> None:
    with setup() as url, pytest.raises(openai.BadRequestError) as info:
        client(url).videos.create(model="chatty", prompt="x")
    assert info.value.body["code"] == "model_type_mismatch"


def test_jobs_in_the_state_directory_survive_a_restart(tmp_path: Path) -> None:
    fake = FakeVideos()
    with ExitStack() as stack:
        base = f"{stack.enter_context(serve_asgi(fake.app))}/v1"
        holder = holder_of(catalog([base]), {"VID_KEY": "k"})
        with serve_asgi(ProxyApp(holder, state_dir=tmp_path)) as url:
            video = client(url).videos.create(model="clips", prompt="kept")
        with serve_asgi(ProxyApp(holder, state_dir=tmp_path)) as url:
            assert client(url).videos.retrieve(video.id).status == "in_progress"
    job = asyncio.run(
        SQLiteDocuments(tmp_path / "documents.sqlite3").get("videos", video.id, owner="alice")
    )
    assert job is not None and job["channel"] == "v0" and job["upstream_id"] in fake.jobs


def test_unknown_video_path_and_method() -> None:
    with running_proxy(catalog([])) as (url, _):
        headers = {"Authorization": f"Bearer {KEY_ALICE}"}
        assert httpx.get(f"{url}/v1/videos/a/b/c", headers=headers).status_code == 404
        assert httpx.put(f"{url}/v1/videos", headers=headers).status_code == 400


def test_list_pages_through_the_consumers_jobs_newest_first() -> None:
    with setup() as url:
        sdk = client(url)
        made = [sdk.videos.create(model="clips-mock", prompt=f"clip {i}").id for i in range(3)]
        first = sdk.videos.list(limit=2)
        every = [v.id for v in sdk.videos.list(limit=2)]  # the SDK follows `after`
        oldest_first = [v.id for v in sdk.videos.list(order="asc")]
    assert [v.id for v in first.data] == made[:0:-1] and first.has_more
    assert every == made[::-1] and oldest_first == made


def test_workers_built_from_the_environment_share_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.proxy.app import app_from_env
    from tests.conftest import write_catalog

    monkeypatch.setenv("MODELYARD_CATALOG", str(write_catalog(tmp_path / "catalog")))
    monkeypatch.setenv("MODELYARD_STATE_DIR", str(tmp_path / "state"))
    app = app_from_env()
    assert isinstance(app.documents, SQLiteDocuments)
    assert app.documents.path == tmp_path / "state" / "documents.sqlite3"
