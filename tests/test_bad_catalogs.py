"""Hostile catalogs are refused with the file and line of the problem, and never replace a good one.

Each case adds one bad file to a good catalog. Through `build()` the case must give its
diagnostic code at its file and line, and no snapshot; through a running proxy watching the
catalog, the reload must be refused: /readyz keeps the old digest and names the problem,
and requests keep being answered.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.catalog.compile import build
from gateway.proxy.breaker import Breakers
from gateway.proxy.reload import CatalogDir, Holder
from tests.conftest import client, poll, running_proxy, write_catalog

LAUGHS = "\n".join(
    [
        "kind: Capability",
        "name: laughs",
        "applies_to: [chat]",
        "description: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        *(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)),
    ]
)
UNKNOWN_FIELD = """\
kind: Capability
name: extra
applies_to: [chat]
upstream_override: http://127.0.0.1:9
"""
DUPLICATE_KEY = """\
kind: Capability
name: twice
applies_to: [chat]
applies_to: [embedding]
"""
FOREIGN_ENV = """\
kind: Settings
name: settings
env_prefixes: [MODELYARD_]
---
kind: Provider
name: sneaky
protocol: openai
base_url: http://127.0.0.1:9/v1
auth: {type: bearer, token: "${HOME}"}
"""
INCLUDE_TAG = """\
kind: Capability
name: included
applies_to: [chat]
description: !include ../../etc/passwd
"""
PYTHON_TAG = """\
kind: Capability
name: pickled
applies_to: [chat]
description: !!python/object/apply:os.system ["true"]
"""
RECURSIVE_ALIAS = """\
kind: Capability
name: loop
applies_to: &me [chat, *me]
"""
DEEP = "kind: Capability\nname: deep\napplies_to: [chat]\ndescription: " + "[" * 200 + "]" * 200


@dataclass(frozen=True)
class Case:
    """One bad file: its name, how to make it, and the diagnostic it must cause."""

    file: str
    code: str
    line: int
    text: str | None = None  # the file's content; None for the symlink cases

    def plant(self, root: Path, outside: Path) -> Path:
        path = root / self.file
        if self.text is not None:
            path.write_text(self.text)
        elif self.file.endswith(".yaml"):
            path.symlink_to(outside / "secret.yaml")
        else:
            path.symlink_to(outside, target_is_directory=True)
        return path


CASES = {
    # Reported on the line whose aliases pass the budget, not at the anchor they name.
    "alias bomb": Case("bomb.yaml", "MY111", 7, LAUGHS),
    "long-text alias bomb": Case(
        "text-bomb.yaml",
        "MY112",
        5,
        "\n".join(
            [
                "kind: Capability",
                "name: text",
                "applies_to: [chat]",
                f"description: &s {'x' * 40_000}",
                "x: &l [" + ",".join(["*s"] * 99) + "]",
                *(f"y{i}: *l" for i in range(99)),
            ]
        ),
    ),
    "recursive alias": Case("loop.yaml", "MY111", 3, RECURSIVE_ALIAS),
    "duplicate key": Case("twice.yaml", "MY103", 4, DUPLICATE_KEY),
    "unknown field": Case("extra.yaml", "MY202", 4, UNKNOWN_FIELD),
    "env reference outside the prefixes": Case("sneaky.yaml", "MY503", 9, FOREIGN_ENV),
    "include tag escaping the root": Case("included.yaml", "MY106", 4, INCLUDE_TAG),
    "python tag": Case("pickled.yaml", "MY106", 4, PYTHON_TAG),
    "runaway nesting": Case("deep.yaml", "MY109", 4, DEEP),
    "file symlink escaping the root": Case("linked.yaml", "MY108", 1),
    "directory symlink escaping the root": Case("linked-dir", "MY108", 1),
}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the catalog holding a valid-looking file the catalog must not read."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.yaml").write_text("kind: Capability\nname: stolen\napplies_to: [chat]\n")
    return path


@pytest.mark.parametrize("label", CASES)
def test_build_refuses_the_bad_file_at_its_line(tmp_path, outside, label):
    case = CASES[label]
    root = write_catalog(tmp_path / "catalog")
    assert build(root).snapshot is not None
    planted = case.plant(root, outside)
    result = build(root)
    assert result.snapshot is None
    found = [(d.file, d.line) for d in result.diagnostics if d.code == case.code]
    assert (str(planted), case.line) in found, result.diagnostics


def test_alias_bomb_is_refused_quickly(tmp_path, outside):
    root = write_catalog(tmp_path / "catalog")
    CASES["alias bomb"].plant(root, outside)
    started = time.monotonic()
    build(root)
    assert time.monotonic() - started < 2  # 10**9 nodes if it were expanded


# ----- the running proxy keeps its last good snapshot -----


@dataclass
class Served:
    root: Path
    url: str
    http: httpx.Client

    def changed(self, path: Path) -> Path:
        """The watcher reloads on changes to YAML files only: for a new directory, touch one."""
        if not path.name.endswith(".yaml"):
            os.utime(self.root / "catalog.yaml")
        return path

    def ready(self) -> dict:
        return self.http.get("/readyz").json()

    def wait_for(self, field: str, value: int | str) -> dict:
        """Poll /readyz (bounded) until `field` reaches `value` (a count) or differs from it
        (a digest)."""
        seen: list[dict] = []

        def reached() -> bool:
            seen.append(self.ready())
            now = seen[-1][field]
            return (now >= value) if isinstance(value, int) else (now != value)

        poll(reached, timeout=10)
        return seen[-1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root = write_catalog(tmp_path / "catalog")
    holder = Holder(CatalogDir(root), Breakers(), environ={})
    with running_proxy(holder) as (url, _app), httpx.Client(base_url=url, timeout=10) as http:
        yield Served(root, url, http)


def test_running_proxy_keeps_its_snapshot_through_every_bad_catalog(served, outside):
    good = served.wait_for("reloads", 1)
    sdk = client(served.url)
    for label, case in CASES.items():
        before = served.ready()
        planted = served.changed(case.plant(served.root, outside))
        status = served.wait_for("refusals", before["refusals"] + 1)
        assert status["digest"] == good["digest"], label
        message = status["last_reload_error"]["message"]
        assert f"[{case.code}]" in message or case.code in message, (label, message)
        assert f"{planted}:{case.line}:" in message, (label, message)
        answer = sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": label}]
        )
        assert answer.choices[0].message.content, label
        # Take the bad file away: the catalog is the good one again, byte for byte.
        planted.unlink()
        served.changed(planted)
        served.wait_for("reloads", before["reloads"] + 1)
        assert served.ready()["digest"] == good["digest"]
    assert served.ready()["last_reload_error"] is None


def test_good_change_after_refusals_is_served(served, outside):
    good = served.wait_for("reloads", 1)
    CASES["duplicate key"].plant(served.root, outside)
    served.wait_for("refusals", 1)
    (served.root / "twice.yaml").unlink()
    write_catalog(served.root, version=2)
    status = served.wait_for("digest", good["digest"])
    assert status["last_reload_error"] is None
    sent = client(served.url).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi"}]
    )
    assert sent.choices[0].message.content
