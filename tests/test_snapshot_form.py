"""One snapshot form: defaults in one table, the digest computed once by compile and checked
once when a file is loaded, and no copy of the JSON form kept beside the Snapshot."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.catalog import compile as compile_module
from gateway.catalog import snapshot as snapshot_module
from gateway.catalog.compile import build, snapshot_bytes
from gateway.catalog.snapshot import (
    BREAKER_DEFAULTS,
    TIMEOUT_DEFAULTS,
    Breaker,
    Settings,
    Snapshot,
)
from gateway.proxy.reload import CatalogDir, SnapshotFile
from tests.conftest import write_catalog


@pytest.fixture
def serialisations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of every whole-snapshot serialisation made while the test runs."""
    made: list[int] = []
    original = snapshot_module.canonical_json

    def counted(value):
        out = original(value)
        if isinstance(value, dict) and "models" in value:
            made.append(len(out))
        return out

    monkeypatch.setattr(snapshot_module, "canonical_json", counted)
    monkeypatch.setattr(compile_module, "canonical_json", counted)
    return made


def test_serving_a_catalog_directory_serialises_the_snapshot_once(tmp_path, serialisations):
    snap = CatalogDir(write_catalog(tmp_path / "catalog")).read()
    assert len(serialisations) == 1
    assert snap.digest == build(tmp_path / "catalog").snapshot["digest"]


def test_a_snapshot_file_is_checked_once_on_load(tmp_path, serialisations):
    path = tmp_path / "snapshot.json"
    path.write_bytes(snapshot_bytes(build(write_catalog(tmp_path / "catalog")).snapshot))
    serialisations.clear()
    SnapshotFile(path).read()
    assert len(serialisations) == 1


def test_an_edited_snapshot_file_is_refused(tmp_path):
    data = build(write_catalog(tmp_path / "catalog")).snapshot
    data["channels"]["echo@mock"]["weight"] = 7
    with pytest.raises(ValueError, match="digest"):
        Snapshot.from_bytes(json.dumps(data).encode())


def test_the_snapshot_keeps_no_copy_of_its_json_form(tmp_path):
    snap = CatalogDir(write_catalog(tmp_path / "catalog")).read()
    assert {f.name for f in dataclasses.fields(snap)}.isdisjoint({"source", "data", "raw"})


def test_defaults_come_from_one_table(tmp_path):
    compiled = build(write_catalog(tmp_path / "catalog")).snapshot["settings"]
    assert {k: compiled[k] for k in TIMEOUT_DEFAULTS} == dict(TIMEOUT_DEFAULTS)
    assert compiled["breaker"] == dict(BREAKER_DEFAULTS)
    # A hand-made snapshot without settings reads the same values.
    assert Settings.from_dict({}) == Settings.from_dict(compiled) == Settings()
    assert Breaker() == Breaker(**BREAKER_DEFAULTS)
    assert (
        not hasattr(compile_module, "TIMEOUT_DEFAULTS")
        or compile_module.TIMEOUT_DEFAULTS is TIMEOUT_DEFAULTS
    )


def test_bundled_catalog_round_trips_through_its_file(tmp_path):
    result = build(Path(__file__).parent.parent / "catalog")
    path = tmp_path / "s.json"
    path.write_bytes(snapshot_bytes(result.snapshot))
    assert SnapshotFile(path).read().digest == Snapshot.from_compiled(result.snapshot).digest
