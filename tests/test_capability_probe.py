"""`modelyard probe --capabilities`: every declared capability proven per channel; the
bundled catalog is all green offline, and an upstream that refuses tools fails the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Snapshot, canonical_json
from tests.conftest import channel, model, provider, snapshot_dict
from tests.upstreams.refusing import REFUSAL, RefusingTools
from tests.upstreams.server import serve_asgi

ROOT = Path(__file__).resolve().parent.parent
#: Variables a developer machine might hold that would send probes to real upstreams.
OFFLINE_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.endswith(("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD"))
    and not k.startswith(("AWS_", "AZURE_", "OPENAI", "ANTHROPIC", "GEMINI"))
}


def probe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "probe",
            "--capabilities",
            "--format",
            "json",
            "--timeout",
            "10",
            *args,
        ],
        cwd=cwd,
        env=OFFLINE_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bundled_catalog_offline_every_mock_capability_is_usable():
    done = probe("--all")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    snapshot = Snapshot.from_dict(build(ROOT / "catalog").snapshot)
    mock = {r["channel"]: r for r in report["results"] if r["protocol"] == "mock"}
    assert mock and all(
        r["outcome"] == "usable" for r in report["results"] if r["protocol"] == "mock"
    )
    # every declared chat capability of every active mock channel was probed
    for m in snapshot.models:
        for c in snapshot.channels_of(m):
            if c.protocol == "mock" and c.status == "active" and m.type == "chat":
                probed = {r["capability"] for r in report["results"] if r["channel"] == c.name}
                assert probed == set(m.capabilities), c.name
    assert {r["outcome"] for r in report["results"] if r["protocol"] != "mock"} <= {"unavailable"}


@pytest.fixture
def refusing_snapshot(tmp_path) -> Iterator[Path]:
    fake = RefusingTools()
    with serve_asgi(fake.app) as url:
        data = snapshot_dict(
            providers=[provider("strict", base_url=f"{url}/v1"), provider("mock", protocol="mock")],
            models=[
                model("m", capabilities=["tools", "streaming"]),
                model("other", capabilities=["tools"]),
            ],
            channels=[
                channel("m@strict", "m", "strict", upstream_model="no-tools"),
                channel("m@mock", "m", "mock", upstream_model="mock-chat"),
                channel("other@mock", "other", "mock", upstream_model="mock-chat"),
            ],
        )
        path = tmp_path / "snapshot.json"
        path.write_bytes(canonical_json(data))
        yield path
        assert any(r["body"].get("tools") for r in fake.requests)  # the refusal was real


def test_upstream_refusing_tools_is_unsupported_for_exactly_its_channel(refusing_snapshot):
    done = probe("--all", "--snapshot", str(refusing_snapshot))
    assert done.returncode == 1, done.stdout + done.stderr
    results = {(r["channel"], r["capability"]): r for r in json.loads(done.stdout)["results"]}
    refused = results[("m@strict", "tools")]
    assert refused["outcome"] == "unsupported"
    assert refused["message"] == f"400: {REFUSAL['message']}"
    assert refused["latency_ms"] is not None
    assert {k: r["outcome"] for k, r in results.items() if k != ("m@strict", "tools")} == {
        ("m@strict", "streaming"): "usable",
        ("m@mock", "streaming"): "usable",
        ("m@mock", "tools"): "usable",
        ("other@mock", "tools"): "usable",
    }


def test_table_output_names_the_finding(refusing_snapshot):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "probe",
            "--capabilities",
            "--channel",
            "m@strict",
            "--snapshot",
            str(refusing_snapshot),
        ],
        cwd=ROOT,
        env={**OFFLINE_ENV, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "unsupported" in done.stdout and "tools is not supported" in done.stdout
