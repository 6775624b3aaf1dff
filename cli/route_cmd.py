"""`modelyard route`: how the proxy would route one model, and why channels are left out."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.model_cmds import unknown_model
from gateway.catalog.snapshot import DATA_DESTINATIONS, Snapshot
from gateway.diagnostics import render
from gateway.proxy.plan import plan_route
from gateway.proxy.resolve import usable

#: exclusion reasons that depend on this environment, not on the catalog
UNAVAILABLE_HERE = ("missing_secret", "secret_not_allowed", "secret_invalid", "adapter_unavailable")


class Format(StrEnum):
    table = "table"
    json = "json"


def _load(catalog: Path | None, snapshot: Path | None) -> Snapshot:
    if snapshot is not None:
        try:
            return Snapshot.from_bytes(snapshot.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as error:
            typer.echo(f"error: cannot read snapshot {snapshot}: {error}", err=True)
            raise typer.Exit(2) from None
    from gateway.catalog.compile import build

    if not (catalog or Path("catalog")).exists():
        from cli.hints import no_catalog

        typer.echo(no_catalog(catalog or Path("catalog")), err=True)
        raise typer.Exit(1)
    result = build(catalog or Path("catalog"))
    if result.snapshot is None:
        typer.echo(
            render([d for d in result.diagnostics if d.severity == "error"], "text"), err=True
        )
        raise typer.Exit(1)
    return Snapshot.from_compiled(result.snapshot)


def route(
    model: str = typer.Argument(..., help="Model name or alias."),
    catalog: Path | None = typer.Option(
        None, "--catalog", help="Catalog directory (default ./catalog)."
    ),
    snapshot: Path | None = typer.Option(None, "--snapshot", help="Compiled snapshot file."),
    consumer: str | None = typer.Option(
        None,
        "--consumer",
        help="Route as this consumer (its private channels and data destination limit).",
    ),
    data_destination: str | None = typer.Option(
        None,
        "--data-destination",
        help="Narrow the data destination, as the "
        "x-modelyard-data-destination header does: " + ", ".join(DATA_DESTINATIONS),
    ),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
    catalog_only: bool = typer.Option(
        False,
        "--catalog-only",
        help="Route on the catalog alone: do not leave out channels "
        "whose provider is unavailable in this environment (missing or invalid ${ENV} "
        "secret, adapter not installed).",
    ),
    check_secrets: bool = typer.Option(
        False, "--check-secrets", hidden=True, help="The default now; kept for old scripts."
    ),
) -> None:
    """Show a model's candidate channels in trial order with the probability each is tried
    first, and every excluded channel with its reason, as a proxy started here would route
    now. Exit 1 for an unknown model."""
    if data_destination is not None and data_destination not in DATA_DESTINATIONS:
        raise typer.BadParameter(
            f"must be one of {', '.join(DATA_DESTINATIONS)}", param_hint="--data-destination"
        )
    snap = _load(catalog, snapshot)
    found = snap.resolve_name(model)
    if found is None:
        raise unknown_model(snap, model)
    who = None
    if consumer is not None:
        who = next((c for c in snap.consumers if c.name == consumer), None)
        if who is None:
            typer.echo(f"error: no consumer named {consumer!r}", err=True)
            raise typer.Exit(2)
    unavailable: Mapping[str, str] = {}
    if not catalog_only:
        from gateway.proxy.reload import prepare

        unavailable = prepare(snap, os.environ).unavailable
    plan = plan_route(
        snap,
        found,
        who,
        max_destination=data_destination,
        is_available=lambda c: unavailable.get(c.provider),
    )
    data = plan.to_dict()
    data["consumer"] = consumer
    data["view"] = "catalog" if catalog_only else "environment"
    data["usable_by_consumer"] = None if who is None else usable(found, who)
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _render(data)


def _render(data: dict) -> None:
    console = Console()
    if data["usable_by_consumer"] is False:
        console.print(
            f"[yellow]note:[/] consumer {data['consumer']} may not use this model "
            "(the proxy answers 404); routing shown as if it could"
        )
    table = Table(title=f"Candidates for {data['model']}, in trial order")
    for column in (
        "group",
        "channel",
        "provider",
        "upstream model",
        "destination",
        "weight",
        "tried first",
    ):
        table.add_column(column)
    for c in data["candidates"]:
        table.add_row(
            c["group"],
            c["channel"],
            c["provider"],
            c["upstream_model"],
            c["data_destination"],
            str(c["weight"]),
            f"{c['first_choice_probability']:.1%}",
        )
    console.print(table)
    if data["excluded"]:
        excluded = Table(title="Excluded")
        for column in ("channel", "provider", "reason"):
            excluded.add_column(column)
        for c in data["excluded"]:
            excluded.add_row(c["channel"], c["provider"], c["reason"])
        console.print(excluded)
    if not data["candidates"]:
        console.print("[red]no channel can serve this request[/]")
    if data["view"] == "environment" and any(
        c["reason"] in UNAVAILABLE_HERE for c in data["excluded"]
    ):
        console.print(
            "[yellow]note:[/] channels of providers unavailable in this environment "
            "are left out, as a proxy started here would; --catalog-only shows the "
            "catalog alone"
        )
