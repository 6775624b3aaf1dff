"""`modelyard status`: fetch a running proxy's `/admin/status` and show it like the models list."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

#: Exit codes, documented in docs/probe-status.md.
EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 2
CIRCUIT_STYLES = {"closed": "green", "half_open": "yellow", "open": "red"}


class Format(StrEnum):
    table = "table"
    json = "json"


def status(
    url: str = typer.Option(..., "--url", help="Base URL of the proxy (http://127.0.0.1:8080)."),
    key: str | None = typer.Option(
        None,
        "--key",
        envvar="MODELYARD_KEY",
        help="A key with the admin scope (or env MODELYARD_KEY).",
    ),
    format: Format = typer.Option(Format.table, "--format", help="table or json."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait."),
) -> None:
    """Show every model and channel of a running proxy: circuit, success rate, latency, errors."""
    if not url.startswith(("http://", "https://")):
        _fail(f"--url must start with http:// or https://, not {url!r}", EXIT_USAGE)
    document = fetch_status(url, key, timeout)
    if format is Format.json:
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    console = Console()
    console.print(status_table(document))
    if (document.get("quotas") or {}).get("scopes"):
        console.print(quota_table(document["quotas"]))
    error = document.get("last_reload_error")
    if error:
        console.print(
            f"[red]last reload refused[/red] ({error.get('at') or 'time unknown'}): "
            f"{escape(str(error.get('message')))}",
            markup=True,
            highlight=False,
        )


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fetch_status(url: str, key: str | None, timeout: float) -> dict[str, Any]:
    """The status document, or exit 1 saying why it could not be had (never the key)."""
    target = url.rstrip("/") + "/admin/status"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(target, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        _fail(f"cannot reach {target}: {type(error).__name__}", EXIT_UNREACHABLE)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        detail = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
        hint = (
            " (is --key / MODELYARD_KEY an admin key?)"
            if response.status_code in (401, 403)
            else ""
        )
        _fail(
            f"{target} answered {response.status_code}: {detail or response.reason_phrase}{hint}",
            EXIT_UNREACHABLE,
        )
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        _fail(f"{target} did not answer a status document", EXIT_UNREACHABLE)
    return body


def _circuit(channel: Mapping[str, Any]) -> str:
    if channel.get("status") != "active":
        return "[dim]inactive[/dim]"
    if channel.get("unavailable"):
        return f"[magenta]unavailable ({channel['unavailable']})[/magenta]"
    circuit = channel.get("circuit") or {}
    state = circuit.get("state", "closed")
    text = f"[{CIRCUIT_STYLES.get(state, '')}]{state}[/]"
    if circuit.get("until"):
        text += f" until {circuit['until']}"
    if circuit.get("retry_after_until"):
        text += f", held until {circuit['retry_after_until']}"
    return text


def _success(recent: Mapping[str, Any]) -> str:
    rate = recent.get("success_rate")
    return "-" if rate is None else f"{rate * 100:.1f} of {recent.get('requests', 0)}"


def _last_error(channel: Mapping[str, Any]) -> str:
    error = channel.get("last_error")
    if not error:
        return ""
    return escape(f"{error.get('code')}: {error.get('message')}")


def status_table(document: Mapping[str, Any]) -> Table:
    """One row per channel, grouped by model in display order."""
    digest = (document.get("digest") or "")[:12]
    table = Table(
        title=f"snapshot {digest}, loaded {document.get('loaded_at')}, "
        f"last {document.get('window_s', 0):g} s"
    )
    for column in ("model", "channel", "circuit", "success %", "p50 ms", "last error"):
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in ("model", "channel"),
            justify="right" if column in ("success %", "p50 ms") else "left",
        )
    for model in document["models"]:
        label = (
            model["name"]
            if model.get("status") == "active"
            else f"{model['name']} [dim](inactive)[/dim]"
        )
        channels = model.get("channels") or []
        if not channels:
            table.add_row(label, "-", "", "", "", "")
        for i, channel in enumerate(channels):
            recent = channel.get("recent") or {}
            p50 = recent.get("p50_ms")
            table.add_row(
                label if i == 0 else "",
                channel["name"],
                _circuit(channel),
                _success(recent),
                "-" if p50 is None else f"{p50:.0f}",
                _last_error(channel),
            )
    return table


#: The quota limits in the order the table shows them, with their column titles.
QUOTA_COLUMNS = (
    ("requests_per_minute", "requests/min"),
    ("tokens_per_minute", "tokens/min"),
    ("concurrent_requests", "in flight"),
    ("budget_per_day", "spend today"),
    ("budget_per_month", "spend this month"),
)


def _use(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return ""
    used = "?" if entry.get("used") is None else entry["used"]
    return f"{used} / {entry['limit']}"


def quota_table(quotas: Mapping[str, Any]) -> Table:
    """One row per quota scope (consumer, org, per model): use against each limit."""
    where = quotas.get("backend", "?")
    if not quotas.get("available", True):
        where += ", [red]unreachable[/red]"
    table = Table(title=f"quotas ({where}; budgets in {quotas.get('currency', '?')})")
    table.add_column("consumer / org", overflow="fold")
    for _, title in QUOTA_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("refused", justify="right")
    for scope in quotas["scopes"]:
        limits = scope.get("limits") or {}
        refused = sum((scope.get("rejections") or {}).values())
        table.add_row(
            escape(scope["subject"]),
            *(_use(limits.get(n)) for n, _ in QUOTA_COLUMNS),
            str(refused) if refused else "",
        )
    return table
