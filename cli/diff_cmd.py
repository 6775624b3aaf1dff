"""`modelyard diff`: the classified, semantic difference of two catalog sides."""

from __future__ import annotations

import dataclasses
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from gateway.diagnostics import render as render_diagnostics
from gateway.review import review_snapshots
from gateway.review.cost import UsageUnreadable, read_traffic
from gateway.review.render import render_json, render_markdown, render_text
from gateway.review.sides import SideDoesNotCompile, SideNotFound, load_side

#: Exit codes, documented in docs/review.md.
EXIT_OK, EXIT_FAILING_CLASS, EXIT_USAGE = 0, 1, 2


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class FailOn(StrEnum):
    breaking = "breaking"
    routing = "routing"
    pricing = "pricing"
    security = "security"
    quota = "quota"
    other = "other"
    any = "any"


def diff(
    base: str = typer.Argument(
        ...,
        help="Base side: a git revision (origin/main, HEAD~1), "
        "a catalog directory, or a compiled snapshot .json file.",
    ),
    head: str = typer.Argument(
        None, help="Head side, same forms; default: the working tree's catalog (./CATALOG_PATH)."
    ),
    format: Format = typer.Option(
        Format.text,
        "--format",
        "-f",  # noqa: A002
        help="text (terminal), markdown (PR comment) or json.",
    ),
    fail_on: list[FailOn] = typer.Option(
        [],
        "--fail-on",
        help="Exit 1 when changes of this class exist (repeatable; any = every class).",
    ),
    catalog_path: str = typer.Option(
        "catalog",
        "--catalog-path",
        help="The catalog folder, relative to the current "
        "directory, inside a git revision and in the tree.",
    ),
    usage: Path = typer.Option(
        None,
        "--usage",
        help="A usage log (JSON lines) or a metrics "
        "scrape: show the monthly cost change its traffic would see.",
    ),
    usage_days: float = typer.Option(
        None,
        "--usage-days",
        min=0.01,
        help="Days the usage covers (default: a log's time span; 30 for a scrape).",
    ),
) -> None:
    """Show what a catalog change does to users, traffic, cost and security.

    Exit: 0 ok, 1 a --fail-on class has changes, 2 bad usage or a side not found or broken.
    """
    try:
        old = load_side(base, catalog_path=catalog_path)
        new = load_side(head or catalog_path, catalog_path=catalog_path)
    except (SideNotFound, SideDoesNotCompile) as exc:
        if exc.diagnostics:
            print(render_diagnostics(exc.diagnostics, "text"), file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    if head is None:
        new = dataclasses.replace(new, label=f"{Path(catalog_path).as_posix()} (working tree)")
    traffic = None
    if usage is not None:
        try:
            traffic = read_traffic(usage, Decimal(str(usage_days)) if usage_days else None)
        except (OSError, UsageUnreadable) as exc:
            print(f"error: --usage {usage}: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
    review = review_snapshots(
        old.snapshot,
        new.snapshot,
        base_label=old.label,
        head_label=new.label,
        warnings=new.warnings,
        defaulted=new.defaulted,
        traffic=traffic,
    )
    if format is Format.json:
        print(render_json(review))
    elif format is Format.markdown:
        print(render_markdown(review), end="")
    else:
        render_text(review, Console())
    failing = review.failing({f.value for f in fail_on})
    if failing:
        print(f"failing: {', '.join(failing)} change(s) present", file=sys.stderr)
        raise typer.Exit(EXIT_FAILING_CLASS)
