"""`modelyard site`: write the static catalog site (see docs/site.md)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from gateway.catalog.snapshot import Snapshot


def load_source(source: Path) -> Snapshot:
    """A compiled snapshot (a .json file) or a catalog compiled now; exit 1/2 when neither."""
    if not source.exists():
        from cli.hints import no_catalog

        typer.echo(no_catalog(source, "`modelyard site PATH -o DIR`"), err=True)
        raise typer.Exit(2)
    if source.is_file() and source.suffix == ".json":
        try:
            return Snapshot.from_bytes(source.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as error:
            typer.echo(f"error: cannot read snapshot {source}: {error}", err=True)
            raise typer.Exit(2) from None
    from gateway.catalog.compile import build
    from gateway.diagnostics import render

    result = build(source)
    if result.snapshot is None:
        typer.echo(
            render([d for d in result.diagnostics if d.severity == "error"], "text"), err=True
        )
        typer.echo(
            f"error: {source} does not compile; `modelyard validate {source}` "
            "explains every problem",
            err=True,
        )
        raise typer.Exit(1)
    return Snapshot.from_dict(result.snapshot)


def site(
    source: Path = typer.Argument(
        Path("catalog"),
        show_default=True,
        help="Catalog directory, or a compiled snapshot (.json) from `modelyard compile`.",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Directory to write the site into."),
    include_internal: bool = typer.Option(
        False,
        "--include-internal",
        help="Also publish internal models (never listed by the proxy).",
    ),
    include_private: bool = typer.Option(
        False, "--include-private", help="Also publish private models and private channels."
    ),
) -> None:
    """Write a static site of the catalog: model list with search and filters, a page per
    model, price comparison, capability matrix. Works offline from file://.
    See docs/site.md."""
    started = time.perf_counter()
    snapshot = load_source(source)
    from gateway.site import build_site

    try:
        report = build_site(
            snapshot, output, include_internal=include_internal, include_private=include_private
        )
    except OSError as error:
        typer.echo(f"error: cannot write the site into {output}: {error.strerror}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"wrote {output}/index.html: {report.models} models, {report.pages} pages, "
        f"{report.bytes / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s",
        err=True,
    )
