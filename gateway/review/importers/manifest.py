"""Re-importing into the same folder: what the last import wrote is recorded, so files and
models that disappeared from the map are pruned and reported instead of lingering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gateway.review.importers.litellm import ImportResult
from gateway.review.importers.yamlout import write_files

#: Not YAML, so the catalog loader never reads it.
MANIFEST = ".modelyard-import.json"


@dataclass(frozen=True, slots=True)
class Synced:
    written: list[Path]
    pruned_files: list[str]
    removed_models: list[str]
    previous_version: str | None


def sync_import(result: ImportResult, out: Path, *, map_version: str) -> Synced:
    """Write `result` under `out`, delete the files the previous import there wrote and this
    one does not, and record files, models and the map's version for the next run."""
    manifest = out / MANIFEST
    try:
        before = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    written = write_files(result.files, out)
    pruned = sorted(set(before.get("files", ())) - set(result.files))
    for rel in pruned:
        target = (out / rel).resolve()
        if target.is_relative_to(out.resolve()) and target.is_file():
            target.unlink()
    removed = sorted(set(before.get("models", ())) - set(result.models))
    manifest.write_text(
        json.dumps(
            {"map_version": map_version, "files": sorted(result.files), "models": result.models},
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    return Synced(written, pruned, removed, before.get("map_version"))
