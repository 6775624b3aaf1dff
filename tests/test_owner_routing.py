"""A consumer's own channels come first, by priority class, then the public ones: through the
proxy with the official SDK, and as `modelyard route --consumer` shows it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from gateway.catalog.snapshot import canonical_json
from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.openai_like import FakeOpenAI
from tests.upstreams.server import serve_asgi

ALICE = {"type": "person", "code": "alice"}
USER = [{"role": "user", "content": "hi"}]


def catalog(base_url: str) -> dict:
    return snapshot_dict(
        providers=[provider("up", base_url=base_url)],
        models=[model("chat")],
        channels=[
            channel(
                "alice-high",
                "chat",
                "up",
                upstream_model="up-alice-high",
                priority="high",
                owner=ALICE,
            ),
            channel(
                "alice-low",
                "chat",
                "up",
                upstream_model="up-alice-low",
                priority="low",
                owner=ALICE,
            ),
            channel(
                "public-high", "chat", "up", upstream_model="up-public", priority="high", weight=5
            ),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )


@pytest.fixture
def proxied() -> Iterator[tuple[str, FakeOpenAI]]:
    fake = FakeOpenAI()
    with serve_asgi(fake.app) as url, running_proxy(catalog(f"{url}/v1")) as (proxy, _):
        yield proxy, fake


def channels_used(proxy: str, key: str, n: int) -> Counter[str]:
    sdk = client(proxy, key)
    return Counter(
        sdk.chat.completions.with_raw_response.create(model="chat", messages=USER).headers[
            "x-modelyard-channel"
        ]  # type: ignore[arg-type]
        for _ in range(n)
    )


def test_owner_high_channel_takes_all_of_its_owners_traffic(proxied):
    proxy, fake = proxied
    assert channels_used(proxy, KEY_ALICE, 20) == {"alice-high": 20}
    assert {r["body"]["model"] for r in fake.requests} == {"up-alice-high"}


def test_owner_fails_over_to_its_own_low_channel_before_public_ones(proxied):
    proxy, fake = proxied
    fake.push(503, model="up-alice-high")
    answer = client(proxy).chat.completions.with_raw_response.create(model="chat", messages=USER)  # type: ignore[arg-type]
    assert (answer.headers["x-modelyard-channel"], answer.headers["x-modelyard-attempts"]) == (
        "alice-low",
        "2",
    )
    assert [r["body"]["model"] for r in fake.requests] == ["up-alice-high", "up-alice-low"]


def test_other_consumers_never_reach_the_owned_channels(proxied):
    proxy, _ = proxied
    assert channels_used(proxy, KEY_BOB, 5) == {"public-high": 5}


def test_route_command_shows_the_owner_first_order(tmp_path):
    from cli.main import app

    path = tmp_path / "snapshot.json"
    path.write_bytes(canonical_json(catalog("http://127.0.0.1:9/v1")))
    result = CliRunner().invoke(
        app, ["route", "chat", "--snapshot", str(path), "--consumer", "alice", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    order = [(c["group"], c["channel"]) for c in json.loads(result.output)["candidates"]]
    assert order == [
        ("private-high", "alice-high"),
        ("private-low", "alice-low"),
        ("high", "public-high"),
    ]
    table = CliRunner().invoke(
        app,
        ["route", "chat", "--snapshot", str(path), "--consumer", "alice"],
        env={"COLUMNS": "200"},
    )
    assert (
        table.output.index("alice-high")
        < table.output.index("alice-low")
        < table.output.index("public-high")
    )
