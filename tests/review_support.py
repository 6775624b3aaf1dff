"""Catalog pairs for the review tests: copy the small review catalog and edit documents."""

from __future__ import annotations

import shutil
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


def review_pair(tmp_path: Path, *edits: tuple[str, str, Callable[[dict[str, Any]], Any]]
                ) -> Review:
    """The review of the base catalog against a copy with `edits` applied."""
    head = copy_base(tmp_path / "head")
    for kind, name, change in edits:
        edit(head, kind, name, change)
    return review_snapshots(compiled(BASE), compiled(head), base_label="base",
                            head_label="head")


def setter(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(values)
