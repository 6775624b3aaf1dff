"""`modelyard route`: candidates in trial order with first-choice odds, exclusions with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.catalog.snapshot import canonical_json
from tests.conftest import KEY_ALICE, KEY_BOB, channel, consumer, model, provider, snapshot_dict

runner = CliRunner()


@pytest.fixture
def snapshot_file(tmp_path):
    data = snapshot_dict(
        providers=[
            provider(
                "us", base_url="http://x/v1", auth={"type": "bearer", "token": "${ROUTE_TEST_KEY}"}
            ),
            provider("cn", protocol="mock", data_destination="mainland"),
        ],
        models=[model("chat", aliases=["c"])],
        channels=[
            channel("us-a", "chat", "us", priority="high", weight=3),
            channel("us-b", "chat", "us", priority="high", weight=1),
            channel("cn", "chat", "cn"),
            channel("mine", "chat", "cn", owner={"type": "person", "code": "alice"}),
            channel("old", "chat", "cn", status="inactive"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("bob", KEY_BOB, max_data_destination="mainland"),
        ],
    )
    path = tmp_path / "snapshot.json"
    path.write_bytes(canonical_json(data))
    return path


def route(*args: str):
    from cli.main import app

    return runner.invoke(app, ["route", *args])


def test_json_lists_candidates_with_first_choice_probability_and_exclusions(snapshot_file):
    result = route("c", "--snapshot", str(snapshot_file), "--catalog-only", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(c["channel"], c["first_choice_probability"]) for c in data["candidates"]] == [
        ("us-a", 0.75),
        ("us-b", 0.25),
        ("cn", 0.0),
    ]
    assert {e["channel"]: e["reason"] for e in data["excluded"]} == {
        "mine": "owner",
        "old": "inactive",
    }


def test_consumer_gets_private_channels_first_and_its_destination_limit(snapshot_file, monkeypatch):
    monkeypatch.setenv("ROUTE_TEST_KEY", "set")
    alice = json.loads(
        route(
            "chat", "--snapshot", str(snapshot_file), "--consumer", "alice", "--format", "json"
        ).output
    )
    assert alice["candidates"][0] == {
        **alice["candidates"][0],
        "channel": "mine",
        "group": "private-normal",
        "first_choice_probability": 1.0,
    }
    bob = json.loads(
        route(
            "chat", "--snapshot", str(snapshot_file), "--consumer", "bob", "--format", "json"
        ).output
    )
    assert [c["channel"] for c in bob["candidates"]] == ["cn"]


def test_data_destination_option_narrows(snapshot_file):
    data = json.loads(
        route(
            "chat",
            "--snapshot",
            str(snapshot_file),
            "--data-destination",
            "inner",
            "--format",
            "json",
        ).output
    )
    assert data["candidates"] == []
    assert all(
        e["reason"].startswith("data_destination")
        for e in data["excluded"]
        if e["channel"] in ("us-a", "cn")
    )


def test_channels_of_providers_without_secret_are_left_out_by_default(snapshot_file, monkeypatch):
    monkeypatch.delenv("ROUTE_TEST_KEY", raising=False)
    data = json.loads(route("chat", "--snapshot", str(snapshot_file), "--format", "json").stdout)
    assert data["view"] == "environment"
    assert {e["channel"]: e["reason"] for e in data["excluded"]}["us-a"] == "missing_secret"
    assert [(c["channel"], c["first_choice_probability"]) for c in data["candidates"]] == [
        ("cn", 1.0)
    ]


def test_secret_with_trailing_newline_is_shown_as_invalid(snapshot_file, monkeypatch):
    monkeypatch.setenv("ROUTE_TEST_KEY", "value\n")
    data = json.loads(route("chat", "--snapshot", str(snapshot_file), "--format", "json").stdout)
    assert {e["channel"]: e["reason"] for e in data["excluded"]}["us-a"] == "secret_invalid"


def test_bundled_catalog_without_keys_shows_the_mock_serving_everything(monkeypatch):
    bundled = Path(__file__).parent.parent / "catalog"
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    live = json.loads(route("gpt-4o", "--catalog", str(bundled), "--format", "json").stdout)
    assert [(c["channel"], c["first_choice_probability"]) for c in live["candidates"]] == [
        ("gpt-4o@mock", 1.0)
    ]
    table = route("gpt-4o", "--catalog", str(bundled)).output
    assert "100.0%" in table and "missing_secret" in table and "--catalog-only" in table
    static = json.loads(
        route("gpt-4o", "--catalog", str(bundled), "--catalog-only", "--format", "json").stdout
    )
    assert static["view"] == "catalog"
    assert (
        dict((c["channel"], c["first_choice_probability"]) for c in static["candidates"])[
            "gpt-4o@mock"
        ]
        == 0.0
    )


def test_table_output_names_channels_and_reasons(snapshot_file, monkeypatch):
    monkeypatch.setenv("ROUTE_TEST_KEY", "set")
    result = route("chat", "--snapshot", str(snapshot_file))
    assert result.exit_code == 0
    assert "us-a" in result.output and "75.0%" in result.output and "inactive" in result.output


def test_unknown_model_exits_1_and_unknown_consumer_exits_2(snapshot_file):
    assert route("nope", "--snapshot", str(snapshot_file)).exit_code == 1
    assert route("chat", "--snapshot", str(snapshot_file), "--consumer", "zed").exit_code == 2


def test_route_compiles_a_catalog_directory(tmp_path):
    from tests.conftest import write_catalog

    root = write_catalog(tmp_path / "catalog", 4)
    data = json.loads(route("echo", "--catalog", str(root), "--format", "json").output)
    assert data["candidates"][0]["upstream_model"] == "echo-v4"
