"""`modelyard models show NAME`: one model in full, as the console's detail page shows it."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.catalog.snapshot import Snapshot
from gateway.proxy.model_detail import closest_names, model_detail


def unknown_model(snapshot: Snapshot, name: str) -> typer.Exit:
    """Say that `name` is no model or alias, suggesting the closest; the exit to raise."""
    near = closest_names(snapshot, name)
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    typer.echo(f"error: no model or alias named {name!r}{hint}", err=True)
    return typer.Exit(1)


def _price(price: dict[str, Any] | None) -> str:
    if price is None:
        return ""
    amounts = ", ".join(
        f"{k} {v}" for k, v in price.items() if k not in ("currency", "unit", "images")
    )
    if price.get("images"):
        amounts = ", ".join(
            f"{s} {q} {p}" for s, qs in price["images"].items() for q, p in qs.items()
        )
    return f"{amounts} {price['currency']} {price['unit'].replace('_', ' ')}"


def show(snapshot: Snapshot, name: str, status: dict[str, Any] | None, format: str) -> None:
    model = snapshot.resolve_name(name)
    if model is None:
        raise unknown_model(snapshot, name)
    detail = model_detail(snapshot, model, status)
    if format == "json":
        typer.echo(json.dumps(detail, indent=2, ensure_ascii=False))
        return
    console = Console()
    owner = detail["owner"]
    console.print(
        f"[bold]{detail['display_name']}[/] ({detail['name']}): {detail['type']}, "
        f"{detail['status']}, {detail['visibility']}, owner {owner['name']} "
        f"({owner['type']} {owner['code']})",
        highlight=False,
    )
    for label in ("aliases", "tags", "capabilities", "native_tools"):
        console.print(
            f"{label.replace('_', ' ')}: {', '.join(detail[label]) or '-'}", highlight=False
        )
    for key, value in detail["properties"].items():
        console.print(f"{key}: {value}", highlight=False)
    table = Table(title="channels, in routing order")
    columns = [
        "channel",
        "provider",
        "upstream model",
        "group",
        "weight",
        "status",
        "share",
        "price",
    ]
    if status is not None:
        columns += ["circuit", "success rate"]
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column == "channel")
    for c in detail["channels"]:
        cells = [
            c["name"],
            c["provider"],
            c["upstream_model"],
            c["group"] or "-",
            str(c["weight"]),
            c["status"],
            f"{c['route_share']:.1%}",
            _price(c["price"]),
        ]
        if status is not None:
            rate = c.get("success_rate")
            cells += [c.get("circuit") or "-", "-" if rate is None else f"{rate:.0%}"]
        table.add_row(*cells)
    console.print(table)
