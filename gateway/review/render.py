"""Rendering a review: rich terminal text, a markdown pull-request comment, and stable JSON."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.review.findings import CATEGORIES, JSON_VERSION, Finding, Review
from gateway.review.impact import Access
from gateway.review.markdown import (
    MARKER,
    TITLES,
    cell,
    failover,
    pricing_rows,
    render_markdown,
    subject,
    verdict,
)

__all__ = ["MARKER", "render_json", "render_markdown", "render_text", "to_json"]

_STYLES = {
    "breaking": "bold red",
    "routing": "cyan",
    "pricing": "yellow",
    "security": "bold magenta",
    "quota": "blue",
    "other": "dim",
}


# --- json -----------------------------------------------------------------------------------


def to_json(review: Review) -> dict[str, Any]:
    """The documented JSON form (see docs: "JSON output"); every value already masked."""
    return {
        "format": "modelyard-diff",
        "version": JSON_VERSION,
        "base": {"label": review.base.label, "digest": review.base.digest},
        "head": {"label": review.head.label, "digest": review.head.digest},
        "verdict": verdict(review),
        "summary": review.counts(),
        "findings": [f.to_json() for f in review.findings],
        "impact": [i.to_json() for i in review.impacts],
        "warnings": [d.text() for d in review.warnings],
        "cost": review.cost,
        "changes": [
            {"kind": c.kind, "name": c.name, "action": c.action, "fields": c.masked_fields()}
            for c in review.changes
        ],
    }


def render_json(review: Review) -> str:
    return json.dumps(to_json(review), indent=2, ensure_ascii=False)


# --- terminal -------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return re.sub(r"`([^`]*)`", r"\1", text)


def _text_routing(console: Console, f: Finding) -> None:
    before, after = f.detail["before"], f.detail["after"]
    table = Table(
        title=f"{f.name}{' (new model)' if before is None else ''}",
        title_justify="left",
        show_edge=False,
    )
    for header in ("channel", "first choice before", "after"):
        table.add_column(header, justify="left" if header == "channel" else "right")
    names = dict.fromkeys(
        [
            *(before or {}).get("shares", {}),
            *after["shares"],
            *(before or {}).get("excluded", {}),
            *after["excluded"],
        ]
    )
    for name in names:
        table.add_row(name, cell(before, name), cell(after, name))
    console.print(table)
    console.print(
        Text(f"  failover before: {failover(before)}\n  failover after:  {failover(after)}")
    )


def _text_pricing(console: Console, findings: Iterable[Finding]) -> None:
    table = Table(show_edge=False)
    for header in ("channel", "model", "price", "before", "after", "change"):
        # fold, never cut: a reviewer must see whole channel names and amounts
        table.add_column(
            header,
            justify="right" if header in ("before", "after", "change") else "left",
            overflow="fold",
        )
    for row in pricing_rows(findings):
        table.add_row(*row)
    console.print(table)


def render_text(review: Review, console: Console) -> None:
    """Print the review for a terminal: a summary line, then each class's findings."""
    console.print(Text(f"{review.base.label} → {review.head.label}", style="bold"))
    console.print(Text(verdict(review)))
    if review.cost is not None:
        cost = review.cost
        console.print(
            Text(
                f"monthly cost (from {cost['days']} days of traffic): "
                f"{cost['before']} → {cost['after']} {cost['currency']}"
            )
        )
        for row in sorted(cost["models"], key=lambda r: -abs(Decimal(r["change"]))):
            console.print(
                Text(
                    f"  {row['model']}: {row['before'] or '—'} → "
                    f"{row['after'] or '—'} ({row['change']})"
                )
            )
    for warning in review.warnings:
        console.print(Text(f"warning: {warning.text()}", style="yellow"))
    if not review.findings:
        console.print("No changes.")
        return
    counts = review.counts()
    console.print(Text("  ".join(f"{TITLES[c]}: {counts[c]}" for c in CATEGORIES)))
    for category in CATEGORIES:
        found = review.of(category)
        if not found:
            continue
        console.rule(Text(f"{TITLES[category]} ({len(found)})", style=_STYLES[category]))
        if category == "routing":
            for f in found:
                _text_routing(console, f)
        elif category == "pricing":
            _text_pricing(console, found)
        else:
            for f in found:
                console.print(Text(f"• {_plain(subject(f))}: {_plain(f.message)}"))
                if f.detail.get("text_diff"):
                    console.print(Text(textwrap.indent(f.detail["text_diff"], "    ")))
    if review.impacts:
        console.rule(Text(f"Per-consumer impact ({len(review.impacts)})"))
        for impact in review.impacts:
            console.print(
                Text(f"{impact.consumer} (max {impact.max_data_destination})", style="bold")
            )
            for m in impact.models:
                console.print(
                    Text(f"  {m.name}: {m.verdict}: {_routes(m.before)} ⇒ {_routes(m.after)}")
                )


def _routes(access: Access | None) -> str:
    if access is None:
        return "not usable"
    return (
        ", ".join(f"{r.channel} {r.share:g}% ({r.data_destination})" for r in access.routes)
        or "no channel"
    )
