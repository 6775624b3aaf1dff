"""Catalog pairs for the review tests: copy the small review catalog and edit documents."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.catalog.compile import build
from gateway.review import Review, review_snapshots

FIXTURES = Path(__file__).parent / "fixtures" / "review"
BASE = FIXTURES / "base"


def copy_base(dest: Path) -> Path:
    return Path(shutil.copytree(BASE, dest))


def edit(root: Path, kind: str, name: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """Apply `change` to one document in place; a change returning "delete" removes it."""
    for path in sorted(root.rglob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for i, doc in enumerate(docs):
            if doc.get("kind") == kind and doc.get("name") == name:
                if change(doc) == "delete":
                    del docs[i]
                path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
                return
    raise KeyError((kind, name))


def add(root: Path, file: str, doc: dict[str, Any]) -> None:
    path = root / file
    text = path.read_text() + "\n---\n" if path.exists() else ""
    path.write_text(text + yaml.safe_dump(doc, sort_keys=False))


def compiled(root: Path) -> dict[str, Any]:
    result = build(root)
    assert result.snapshot is not None, [d.text() for d in result.diagnostics]
    return result.snapshot


def review_pair(tmp_path: Path, *edits: tuple[str, str, Callable[[dict[str, Any]], Any]]) -> Review:
    """The review of the base catalog against a copy with `edits` applied."""
    head = copy_base(tmp_path / "head")
    for kind, name, change in edits:
        edit(head, kind, name, change)
    return review_snapshots(compiled(BASE), compiled(head), base_label="base", head_label="head")


def setter(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(values)


REPO = Path(__file__).resolve().parent.parent


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def catalog_repo(root: Path, catalog: Path = REPO / "catalog") -> Path:
    """A git repository holding a copy of `catalog` (default the bundled one) on `main`."""
    shutil.copytree(catalog, root / "catalog")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base catalog")
    return root


def pull_request(
    repo: Path,
    branch: str,
    *edits: tuple[str, str, Callable[[dict[str, Any]], Any]],
    adds: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> str:
    """Commit `edits` (and added documents) to the catalog on a new branch off main."""
    git(repo, "checkout", "-q", "-B", branch, "main")
    for kind, name, change in edits:
        edit(repo / "catalog", kind, name, change)
    for file, doc in adds:
        add(repo / "catalog", file, doc)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", branch)
    return git(repo, "rev-parse", "HEAD")


def gate(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`modelyard diff main HEAD --format json` with the CI gate's --fail-on classes."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "diff",
            "main",
            "HEAD",
            "--format",
            "json",
            "--fail-on",
            "breaking",
            "--fail-on",
            "security",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def found(report: dict[str, Any], category: str) -> list[str]:
    """`kind name: message` of every finding of `category` in a JSON report."""
    return [
        f"{f['kind']} {f['name']}: {f['message']}"
        for f in report["findings"]
        if f["class"] == category
    ]
