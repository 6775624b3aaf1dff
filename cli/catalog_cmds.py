"""The catalog commands: validate, compile and models; each parses, calls gateway, renders."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cli import model_cmds
from gateway.catalog.compile import build, snapshot_bytes, write_snapshot
from gateway.catalog.listing import ModelQuery, ModelRow, list_models
from gateway.catalog.protocols import ALL_TYPES, SERVES
from gateway.catalog.snapshot import Snapshot
from gateway.diagnostics import ERROR, NOTICE, Diagnostic, has_errors, render
from gateway.proxy.model_detail import circuits


class DiagnosticFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


def _choices(name: str, values: Sequence[str]) -> type[StrEnum]:
    return StrEnum(name, {v: v for v in values})  # type: ignore[return-value]


Status = _choices("Status", ("active", "inactive"))
Protocol = _choices("Protocol", sorted(SERVES))
ModelType = _choices("ModelType", sorted(ALL_TYPES))
Visibility = _choices("Visibility", ("public", "protected", "internal", "private"))


def _existing(ctx: typer.Context, path: Path) -> Path:
    if not path.exists():
        from cli.hints import no_catalog

        usage = f"`modelyard {ctx.info_name} PATH`"
        raise typer.BadParameter(no_catalog(path, usage).removeprefix("error: "))
    return path


CatalogArg = typer.Argument(
    Path("catalog"),
    callback=_existing,
    show_default=True,
    help="The catalog directory (or one YAML file).",
)
StrictOpt = typer.Option(False, "--strict", help="Treat warnings as errors.")


def validate(
    catalog: Path = CatalogArg,
    format: DiagnosticFormat = typer.Option(
        DiagnosticFormat.text, "--format", help="text, json, or github annotations."
    ),
    strict: bool = StrictOpt,
) -> None:
    """Check the catalog: schema, references, lints and secrets. Exit 1 on errors."""
    result = build(catalog, strict=strict)
    if format is DiagnosticFormat.json:
        typer.echo(render(result.diagnostics, "json"))
    else:
        if result.diagnostics:
            typer.echo(render(result.diagnostics, format.value))
        typer.echo(summary(result.diagnostics, catalog))
    raise typer.Exit(1 if has_errors(result.diagnostics, strict) else 0)


def compile_(
    catalog: Path = CatalogArg,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the snapshot here (default: standard output)."
    ),
    strict: bool = StrictOpt,
) -> None:
    """Compile the catalog into one deterministic snapshot (JSON)."""
    snapshot = _built(catalog, strict)
    if output is None:
        sys.stdout.buffer.write(snapshot_bytes(snapshot))
        sys.stdout.flush()
    else:
        try:
            write_snapshot(snapshot, output)
        except OSError as exc:
            typer.echo(f"cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"wrote {output} (digest {snapshot['digest'][:12]})", err=True)


def models(
    args: list[str] = typer.Argument(
        None,
        metavar="[CATALOG] | show NAME [CATALOG]",
        help="The catalog directory (default ./catalog); `show NAME` shows one model in full.",
    ),
    search: str | None = typer.Option(
        None,
        "--search",
        "-s",
        help="Substring of name, display name, alias, vendor, description or tag.",
    ),
    tag: str | None = typer.Option(None, "--tag", help="Models carrying this tag."),
    proxy: str | None = typer.Option(
        None,
        "--proxy",
        help="A running proxy's URL: adds each model's circuit state (list) "
        "or each channel's circuit and recent success rate (show), from /admin/status.",
    ),
    key: str | None = typer.Option(
        None, "--key", envvar="MODELYARD_KEY", help="A key with the admin scope, for --proxy."
    ),
    # The choice enums are built from the vocabularies, hence the type: ignore.
    status: Status | None = typer.Option(None, "--status"),  # type: ignore[valid-type]
    protocol: Protocol | None = typer.Option(  # type: ignore[valid-type]
        None, "--protocol", help="Models with a channel on it."
    ),
    vendor: str | None = typer.Option(None, "--vendor", help="Vendor, ignoring case."),
    type: ModelType | None = typer.Option(None, "--type"),  # type: ignore[valid-type]
    visibility: Visibility | None = typer.Option(None, "--visibility"),  # type: ignore[valid-type]
    format: ListFormat = typer.Option(ListFormat.table, "--format"),
) -> None:
    """List the catalog's models in display order, like the admin console; `models show NAME`
    shows one model: properties, capabilities, native tools, channels with prices and route
    shares (with --proxy: live circuit and success rate)."""
    args = list(args or ())
    if args[:1] == ["show"]:
        if len(args) not in (2, 3):
            raise typer.BadParameter("use: models show NAME [CATALOG]")
        catalog = _catalog(args[2] if len(args) == 3 else "catalog")
        snap = Snapshot.from_compiled(_built(catalog, strict=False))
        live = _status(proxy, key) if proxy else None
        model_cmds.show(snap, args[1], live, format.value)
        return
    if len(args) > 1:
        raise typer.BadParameter("give at most one catalog directory")
    snapshot = _built(_catalog(args[0] if args else "catalog"), strict=False)
    query = ModelQuery(
        search=search,
        status=_value(status),
        protocol=_value(protocol),
        vendor=vendor,
        type=_value(type),
        visibility=_value(visibility),
        tag=tag,
    )
    rows = list_models(Snapshot.from_compiled(snapshot), query)
    circuit = circuits(_status(proxy, key)) if proxy else None
    if format is ListFormat.json:
        typer.echo(
            json.dumps(
                [
                    {
                        **r.as_dict(),
                        **({"circuit": circuit.get(r.name)} if circuit is not None else {}),
                    }
                    for r in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        Console().print(_table(rows, circuit))


def _catalog(raw: str) -> Path:
    path = Path(raw)
    if not path.exists():
        raise typer.BadParameter(f"catalog {raw} does not exist")
    return path


def _status(proxy: str, key: str | None) -> dict[str, Any]:
    from cli.status_cmd import fetch_status

    return fetch_status(proxy, key, 10.0)


def _value(choice: Enum | None) -> str | None:
    return None if choice is None else choice.value


def summary(diagnostics: Sequence[Diagnostic], catalog: Path) -> str:
    errors = sum(d.severity == ERROR for d in diagnostics)
    notices = sum(d.severity == NOTICE for d in diagnostics)
    warnings = len(diagnostics) - errors - notices
    if not diagnostics:
        return f"{catalog}: no problems found"
    told = f", {notices} notice{'s' * (notices != 1)}" if notices else ""
    return (
        f"{catalog}: {errors} error{'s' * (errors != 1)}, "
        f"{warnings} warning{'s' * (warnings != 1)}{told}"
    )


def _built(catalog: Path, strict: bool) -> dict[str, Any]:
    """The snapshot, with the build's findings on stderr; exit 1 when there is none."""
    result = build(catalog, strict=strict)
    if result.diagnostics:
        typer.echo(render(result.diagnostics, "text"), err=True)
    if result.snapshot is None:
        typer.echo(summary(result.diagnostics, catalog), err=True)
        raise typer.Exit(1)
    return result.snapshot


def _table(rows: Sequence[ModelRow], circuit: dict[str, str] | None = None) -> Table:
    table = Table(title=f"{len(rows)} model{'s' * (len(rows) != 1)}")
    columns = [
        "name",
        "display name",
        "type",
        "status",
        "vendor",
        "visibility",
        "channels",
        "aliases",
        "tags",
    ]
    if circuit is not None:
        columns.append("circuit")
    for column in columns:
        # Names are what people copy from the list: never broken across lines.
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "channels"))
    for r in rows:
        cells = [
            r.name,
            r.display_name,
            r.type,
            r.status,
            r.vendor or "",
            r.visibility,
            f"{r.active_channels}/{r.channels}",
            ", ".join(r.aliases),
            ", ".join(r.tags),
        ]
        if circuit is not None:
            cells.append(circuit.get(r.name) or "")
        table.add_row(*cells)
    return table
