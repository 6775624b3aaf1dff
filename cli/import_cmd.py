"""`modelyard import`: bootstrap catalog documents from public price maps."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import typer

from gateway.review.importers.litellm import import_litellm
from gateway.review.importers.manifest import sync_import

app = typer.Typer(help="Import catalog documents from public price maps.", no_args_is_help=True)


def _provider_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        for item in filter(None, pair.split(",")):
            theirs, sep, ours = item.partition("=")
            if not sep or not theirs or not ours:
                raise typer.BadParameter(
                    f"{item!r}: expected LITELLM=OURS", param_hint="--provider-map"
                )
            out[theirs.strip()] = ours.strip()
    return out


def _schema_root(out_dir: Path) -> str | None:
    """The repository's schemas folder relative to `out_dir`, if one is above it."""
    here = out_dir.resolve()
    for parent in (here, *here.parents):
        if (parent / "schemas" / "model.json").is_file():
            return Path(os.path.relpath(parent / "schemas", here)).as_posix()
    return None


@app.command("litellm")
def litellm(
    file: Path = typer.Argument(..., help="The LiteLLM model price map (JSON)."),
    providers: str = typer.Option(
        None, "--providers", help="Comma-separated litellm provider names to import (default: all)."
    ),
    with_models: bool = typer.Option(
        False, "--with-models", help="Also write Model, Channel, Provider and Capability drafts."
    ),
    provider_map: list[str] = typer.Option(
        [],
        "--provider-map",
        help="LITELLM=OURS: name of our provider for a litellm provider (repeatable).",
    ),
    out: Path = typer.Option(Path("imported"), "-o", "--out", help="Folder to write into."),
    active: bool = typer.Option(
        False,
        "--active",
        help="Make priced model drafts active and "
        "public (default: inactive and unlisted until reviewed).",
    ),
    map_version: str = typer.Option(
        None,
        "--map-version",
        help="The map's release, e.g. 'litellm 1.109.1' (default: sha256 of the file).",
    ),
) -> None:
    """Turn the LiteLLM price map into PriceBooks (and, with --with-models, drafts).

    Re-running into the same folder prunes the files and reports the models that are no
    longer in the map (`.modelyard-import.json` records what was written)."""
    try:
        raw = file.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {file}: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    version = map_version or f"sha256:{hashlib.sha256(raw).hexdigest()[:16]}"
    chosen = [p.strip() for p in providers.split(",") if p.strip()] if providers else None
    result = import_litellm(
        data,
        providers=chosen,
        provider_map=_provider_map(provider_map),
        with_models=with_models,
        schema_root=_schema_root(out),
        active=active,
        map_version=version,
    )
    if not result.files:
        print("error: nothing to import (check --providers)", file=sys.stderr)
        raise typer.Exit(1)
    synced = sync_import(result, out, map_version=version)
    since = f" (previous import: {synced.previous_version})" if synced.previous_version else ""
    print(f"wrote {len(synced.written)} file(s) under {out} from map {version}{since}")
    for key, count in sorted(result.summary.items()):
        print(f"  {key}: {count}")
    for rel in synced.pruned_files:
        print(f"  pruned {rel}: no longer in the map")
    for name in synced.removed_models:
        print(f"  model {name}: no longer in the map, removed")
    for conflict in result.conflicts:
        print(f"  conflicting duplicate: {conflict}")
