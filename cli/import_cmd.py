"""`modelyard import`: bootstrap catalog documents from public price maps."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from gateway.review.importers.litellm import import_litellm
from gateway.review.importers.yamlout import write_files

app = typer.Typer(help="Import catalog documents from public price maps.", no_args_is_help=True)


def _provider_map(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        for item in filter(None, pair.split(",")):
            theirs, sep, ours = item.partition("=")
            if not sep or not theirs or not ours:
                raise typer.BadParameter(f"{item!r}: expected LITELLM=OURS",
                                         param_hint="--provider-map")
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
    providers: str = typer.Option(None, "--providers", help="Comma-separated litellm provider "
                                  "names to import (default: all)."),
    with_models: bool = typer.Option(False, "--with-models", help="Also write Model, Channel, "
                                     "Provider and Capability drafts."),
    provider_map: list[str] = typer.Option([], "--provider-map", help="LITELLM=OURS: name of "
                                           "our provider for a litellm provider (repeatable)."),
    out: Path = typer.Option(Path("imported"), "-o", "--out", help="Folder to write into."),
) -> None:
    """Turn the LiteLLM price map into PriceBooks (and, with --with-models, drafts)."""
    try:
        data = json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {file}: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    chosen = [p.strip() for p in providers.split(",") if p.strip()] if providers else None
    result = import_litellm(data, providers=chosen, provider_map=_provider_map(provider_map),
                            with_models=with_models, schema_root=_schema_root(out))
    if not result.files:
        print("error: nothing to import (check --providers)", file=sys.stderr)
        raise typer.Exit(1)
    written = write_files(result.files, out)
    print(f"wrote {len(written)} file(s) under {out}")
    for key, count in sorted(result.summary.items()):
        print(f"  {key}: {count}")
