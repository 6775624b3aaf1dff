"""`modelyard probe`: send the smallest real request through every channel and report each."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Snapshot
from gateway.diagnostics import render as render_diagnostics
from gateway.proxy.capability_probe import CapabilityReport, run_capabilities
from gateway.proxy.probe import ProbeReport, ProbeResult, ProbeSelectionError, run, select

#: Exit codes, documented in docs/probe-status.md.
EXIT_OK, EXIT_NO_USABLE_CHANNEL, EXIT_USAGE = 0, 1, 2

STYLES = {
    "usable": "green",
    "error": "red",
    "timeout": "red",
    "unsupported": "yellow",
    "unavailable": "magenta",
    "skipped": "dim",
}


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def probe(
    models: list[str] = typer.Argument(None, help="Models (or aliases) to probe."),
    all_models: bool = typer.Option(False, "--all", help="Probe every active model."),
    catalog: Path | None = typer.Option(
        None, "--catalog", help="Catalog directory to compile (default: ./catalog)."
    ),
    snapshot: Path | None = typer.Option(None, "--snapshot", help="A compiled snapshot file."),
    channel: str | None = typer.Option(None, "--channel", help="Probe only this channel."),
    concurrency: int = typer.Option(
        4, "--concurrency", min=1, max=64, help="Probes in flight at once."
    ),
    timeout: float = typer.Option(20.0, "--timeout", min=0.05, help="Seconds each probe may take."),
    include_costly: bool = typer.Option(
        False, "--include-costly", help="Also probe image and video models (billed per call)."
    ),
    format: Format = typer.Option(Format.table, "--format", help="table, json or markdown."),
    capabilities: bool = typer.Option(
        False,
        "--capabilities",
        help="Prove every declared capability of each channel with "
        "the smallest request that shows it (tool calls, images, streams, JSON, ...).",
    ),
) -> None:
    """Send the smallest real request each model type allows through every channel.

    Exit 1 when a public active model has no usable channel among those probed (with
    --capabilities: when a declared capability is unsupported, failed or timed out), 2 on
    bad usage.
    """
    loaded = _load(catalog, snapshot)
    try:
        targets = select(loaded, models or (), all_models=all_models, channel=channel)
    except ProbeSelectionError as error:
        _usage(str(error))
    if capabilities:
        report_capabilities(
            run_capabilities(loaded, targets, concurrency=concurrency, timeout_s=timeout), format
        )
    report = run(
        loaded, targets, concurrency=concurrency, timeout_s=timeout, include_costly=include_costly
    )
    if format is Format.json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    elif format is Format.markdown:
        typer.echo(render_markdown(report))
    else:
        console = Console()
        console.print(_table(report))
        console.print(summary(report))
    raise typer.Exit(report.exit_code)


def report_capabilities(report: CapabilityReport, format: Format) -> NoReturn:
    """Print a capability report and exit with its code."""
    if format is Format.json:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        raise typer.Exit(report.exit_code)
    header = ("model", "channel", "protocol", "capability", "result", "ms", "message")
    rows = [
        (
            r.model,
            r.channel,
            r.protocol,
            r.capability,
            r.outcome,
            "" if r.latency_ms is None else f"{r.latency_ms:.0f}",
            r.message or "",
        )
        for r in report.results
    ]
    counts = ", ".join(f"{n} {o}" for o, n in report.counts().items() if n)
    line = f"{len(report.results)} capability probe(s): {counts or 'none'}"
    if format is Format.markdown:
        typer.echo(
            "\n".join(
                [
                    "## Capability probe",
                    "",
                    _cell(line),
                    "",
                    "| " + " | ".join(header) + " |",
                    "|---" * len(header) + "|",
                    *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows),
                ]
            )
        )
        raise typer.Exit(report.exit_code)
    table = Table(title="capability probe")
    for column in header:
        table.add_column(column, overflow="fold", justify="right" if column == "ms" else "left")
    for row in rows:
        style = STYLES.get(row[4], "")
        table.add_row(*row[:4], f"[{style}]{row[4]}[/{style}]", row[5], escape(row[6]))
    console = Console()
    console.print(table)
    console.print(line)
    raise typer.Exit(report.exit_code)


def _usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _load(catalog: Path | None, snapshot: Path | None) -> Snapshot:
    """The snapshot to probe; bad usage (exit 2) when it cannot be had."""
    if catalog is not None and snapshot is not None:
        _usage("use --catalog or --snapshot, not both")
    if snapshot is not None:
        try:
            return Snapshot.from_bytes(snapshot.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as error:
            _usage(f"cannot read snapshot {snapshot}: {error}")
    root = catalog or Path("catalog")
    if not root.exists():
        from cli.hints import no_catalog

        _usage(no_catalog(root).removeprefix("error: "))
    result = build(root)
    if result.snapshot is None:
        typer.echo(render_diagnostics(result.diagnostics, "text"), err=True)
        _usage(f"catalog {root} does not compile")
    return Snapshot.from_dict(result.snapshot)


def _latency(result: ProbeResult) -> str:
    return "" if result.latency_ms is None else f"{result.latency_ms:.0f}"


def summary(report: ProbeReport) -> str:
    counts = ", ".join(f"{n} {o}" for o, n in report.counts().items() if n)
    line = f"{len(report.results)} channel(s) probed: {counts or 'none'}"
    if report.failing_models:
        line += f"\nno usable channel: {', '.join(report.failing_models)}"
    return line


def _table(report: ProbeReport) -> Table:
    table = Table(title="probe")
    for column in (
        "model",
        "channel",
        "provider",
        "protocol",
        "upstream model",
        "result",
        "ms",
        "message",
    ):
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in ("model", "channel"),
            justify="right" if column == "ms" else "left",
        )
    previous = None
    for r in report.results:
        style = STYLES.get(r.outcome, "")
        table.add_row(
            r.model if r.model != previous else "",
            r.channel,
            r.provider,
            r.protocol,
            r.upstream_model,
            f"[{style}]{r.outcome}[/{style}]",
            _latency(r),
            escape(r.message or ""),
        )
        previous = r.model
    return table


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ProbeReport) -> str:
    """The report for a CI job summary (GitHub-flavoured Markdown)."""
    verdict = (
        "all probed public models have a usable channel"
        if not report.failing_models
        else "no usable channel: " + ", ".join(f"`{m}`" for m in report.failing_models)
    )
    lines = [
        "## Model probe",
        "",
        f"**{'OK' if not report.failing_models else 'FAILED'}**: {verdict}",
        "",
        _cell(summary(report).splitlines()[0]),
        "",
        "| model | channel | provider | protocol | upstream model | result | ms | message |",
        "|---|---|---|---|---|---|--:|---|",
    ]
    for r in report.results:
        lines.append(
            f"| `{r.model}` | `{r.channel}` | {r.provider} | {r.protocol} | "
            f"{_cell(r.upstream_model)} | {r.outcome} | {_latency(r)} | "
            f"{_cell(r.message)} |"
        )
    return "\n".join(lines)
