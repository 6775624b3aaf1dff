"""Aliases that repeat long text are bounded in characters (MY112), and a compiled snapshot
in bytes (MY601): a small file can no longer compile to a gigabyte, in CI or in a served
proxy's hot reload."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.catalog import compile as compile_module
from gateway.catalog.compile import build, snapshot_bytes
from gateway.catalog.load import load_catalog
from gateway.catalog.snapshot import MAX_SNAPSHOT_BYTES, Snapshot
from gateway.catalog.yaml_aliases import MAX_ALIAS_CHARACTERS
from gateway.proxy.breaker import Breakers
from gateway.proxy.reload import CatalogDir, Holder
from tests.conftest import client, poll, running_proxy, write_catalog


def text_bomb(length: int, keys: int, per_key: int) -> str:
    """A NativeTool whose spellings repeat one `length`-character string keys x per_key
    times: a list of per_key aliases of it, aliased again by each of `keys` keys. Only
    keys x (per_key + 1) nodes: within the node budget (MY111) that alone checked."""
    aliases = ",".join(["*s"] * per_key)
    lines = [
        "kind: NativeTool",
        "name: bomb",
        "applies_to: [chat]",
        f"description: &s {'x' * length}",
        "spellings:",
        "  openai:",
        f"    k0: &l [{aliases}]",
    ]
    lines += [f"    k{i}: *l" for i in range(1, keys)]
    return "\n".join(lines) + "\n"


BIG = text_bomb(100_000, 100, 99)  # about 101 KB; 990,000,000 characters once expanded
SMALL = text_bomb(40_000, 100, 99)  # about 41 KB; 396,000,000 characters once expanded


def test_the_generated_documents_are_the_sizes_of_the_reported_attacks():
    assert 100_000 < len(BIG) < 102_000
    assert 40_000 < len(SMALL) < 42_000


def test_101_kb_text_bomb_is_refused_quickly_at_its_line(tmp_path):
    root = write_catalog(tmp_path / "catalog")
    (root / "bomb.yaml").write_text(BIG, encoding="utf-8")
    started = time.monotonic()
    result = build(root)
    assert time.monotonic() - started < 5
    assert result.snapshot is None
    found = [d for d in result.diagnostics if d.code == "MY112"]
    assert len(found) == 1 and found[0].file.endswith("bomb.yaml") and found[0].line >= 7
    assert f"{MAX_ALIAS_CHARACTERS:,}" in found[0].message and found[0].hint
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["MY112"]


def test_long_text_shared_a_few_times_is_still_fine(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text(text_bomb(10_000, 5, 10), encoding="utf-8")  # 500,000 characters
    docs, diags = load_catalog(path)
    assert diags == [] and len(docs[0].data["spellings"]["openai"]["k4"]) == 10


def test_text_bomb_hot_reloaded_into_a_served_catalog_is_refused_fast_and_old_one_serves(tmp_path):
    root = write_catalog(tmp_path / "catalog")
    holder = Holder(CatalogDir(root), Breakers(), environ={})
    with running_proxy(holder) as (url, _app), httpx.Client(base_url=url, timeout=10) as http:
        poll(lambda: http.get("/readyz").json()["reloads"] >= 1)
        good = http.get("/readyz").json()["digest"]
        (root / "bomb.yaml").write_text(SMALL, encoding="utf-8")
        took = poll(lambda: http.get("/readyz").json()["refusals"] >= 1, timeout=10)
        ready = http.get("/readyz").json()
        assert ready["digest"] == good and "MY112" in ready["last_reload_error"]["message"]
        assert took < 5
        started = time.monotonic()
        answer = client(url).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "still here?"}]
        )
        assert answer.choices[0].message.content and time.monotonic() - started < 2


def test_snapshot_over_the_size_limit_is_refused_by_compile(tmp_path, monkeypatch):
    root = write_catalog(tmp_path / "catalog")
    size = len(snapshot_bytes(build(root).snapshot))
    monkeypatch.setattr(compile_module, "MAX_SNAPSHOT_BYTES", size - 10)
    result = build(root)
    assert result.snapshot is None
    assert [d.code for d in result.diagnostics] == ["MY601"]
    assert f"{size - 1:,} bytes" in result.diagnostics[0].message


def test_snapshot_file_over_the_size_limit_is_refused_before_parsing():
    padding = b" " * (MAX_SNAPSHOT_BYTES + 1)
    started = time.monotonic()
    try:
        Snapshot.from_bytes(b"{}" + padding)
    except ValueError as error:
        assert "over the limit" in str(error)
    else:
        raise AssertionError("an oversized snapshot file was accepted")
    assert time.monotonic() - started < 1


def test_bundled_catalog_is_far_below_the_snapshot_limit():
    root = Path(__file__).parent.parent / "catalog"
    assert len(snapshot_bytes(build(root).snapshot)) < MAX_SNAPSHOT_BYTES / 50
