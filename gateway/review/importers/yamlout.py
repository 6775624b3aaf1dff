"""Writing catalog documents as deterministic YAML files with editor schema lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

SCHEMA_URL = "https://modelyard.dev/schemas"
SCHEMA_FILES = {
    "Provider": "provider.json",
    "PriceBook": "price-book.json",
    "Model": "model.json",
    "Channel": "channel.json",
    "Capability": "capability.json",
}


def schema_ref(rel_file: str, kind: str, schema_root: str | None) -> str:
    """The `$schema` of a file: `schema_root` is the schemas folder relative to the output
    folder (None: the published URL); files in sub-folders climb up to it."""
    if schema_root is None:
        return f"{SCHEMA_URL}/{SCHEMA_FILES[kind]}"
    depth = rel_file.count("/")
    return "../" * depth + f"{schema_root.rstrip('/')}/{SCHEMA_FILES[kind]}"


def dump_documents(
    rel_file: str, docs: Iterable[Mapping[str, Any]], *, schema_root: str | None, header: str = ""
) -> str:
    """One YAML file of `docs` (`---` separated), keys in the order given, strings kept."""
    docs = list(docs)
    ref = schema_ref(rel_file, docs[0]["kind"], schema_root)
    lines = [f"# yaml-language-server: $schema={ref}"]
    if header:
        lines += [f"# {line}" if line else "#" for line in header.splitlines()]
    body = yaml.safe_dump_all(
        [dict(d) for d in docs],
        sort_keys=False,
        allow_unicode=True,
        width=100,
        explicit_start=False,
    )
    return "\n".join(lines) + "\n" + body


def write_files(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write `files` (relative path -> text) under `out_dir`; returns the paths written."""
    written = []
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
