"""Rendering a review: rich terminal text, a markdown pull-request comment, and stable JSON."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.review.findings import CATEGORIES, JSON_VERSION, Finding, Review
from gateway.review.pricing import unit_label
from gateway.review.routing import format_share

#: The hidden line CI uses to find and update its one comment on a pull request.
MARKER = "<!-- modelyard-diff -->"
WIDTH = 110
TITLES = {"breaking": "Breaking", "routing": "Routing", "pricing": "Pricing",
          "security": "Security", "other": "Other"}
_OPEN = {"breaking", "security"}  # sections a reviewer must not miss start expanded
_STYLES = {"breaking": "bold red", "routing": "cyan", "pricing": "yellow",
           "security": "bold magenta", "other": "dim"}


# --- json -----------------------------------------------------------------------------------

def to_json(review: Review) -> dict[str, Any]:
    """The documented JSON form (see docs: "JSON output"); every value already masked."""
    return {
        "format": "modelyard-diff",
        "version": JSON_VERSION,
        "base": {"label": review.base.label, "digest": review.base.digest},
        "head": {"label": review.head.label, "digest": review.head.digest},
        "summary": review.counts(),
        "findings": [f.to_json() for f in review.findings],
        "changes": [{"kind": c.kind, "name": c.name, "action": c.action,
                     "fields": c.masked_fields()} for c in review.changes],
    }


def render_json(review: Review) -> str:
    return json.dumps(to_json(review), indent=2, ensure_ascii=False)


# --- markdown -------------------------------------------------------------------------------

def _subject(f: Finding) -> str:
    return f"{f.kind.replace('_', ' ')} `{f.name}`"


def _bullet(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="- ", subsequent_indent="  ",
                         break_on_hyphens=False) or ["-"]


def _md_finding(f: Finding) -> list[str]:
    lines = _bullet(f"{_subject(f)}: {f.message}")
    if f.detail.get("text_diff"):
        lines += ["", "  ```diff", *("  " + line for line in f.detail["text_diff"].splitlines()),
                  "  ```", ""]
    return lines


def _order(view: dict[str, Any] | None) -> str:
    return " → ".join(view["failover"]) if view and view["failover"] else "—"


def _md_routing(f: Finding) -> list[str]:
    before, after = f.detail["before"], f.detail["after"]
    channels = list(dict.fromkeys([*(before or {}).get("shares", {}), *after["shares"],
                                   *(before or {}).get("excluded", {}), *after["excluded"]]))
    lines = [f"**`{f.name}`**{' (new model)' if before is None else ''}", "",
             "| Channel | First choice before | After |", "|---|--:|--:|"]
    for name in channels:
        lines.append(f"| `{name}` | {_cell(before, name)} | {_cell(after, name)} |")
    lines += ["", *_bullet(f"failover before: {_order(before)}"),
              *_bullet(f"failover after: {_order(after)}"), ""]
    return lines


def _cell(view: dict[str, Any] | None, channel: str) -> str:
    if not view:
        return "—"
    if channel in view["excluded"]:
        return f"excluded: {view['excluded'][channel].split(' (')[0]}"
    return format_share(view["shares"].get(channel))


def pricing_rows(findings: Iterable[Finding]) -> list[tuple[str, str, str, str, str, str]]:
    """(channel, model, priced item with unit, before, after, change) per changed amount."""
    rows = []
    for f in findings:
        unit = f"{f.detail['currency']} {unit_label(f.detail['unit'])}"
        for row in f.detail["amounts"] or [{"amount": "unit", "before": f.detail.get(
                "before_unit"), "after": f.detail["unit"], "change_percent": None}]:
            pct = f"{row['change_percent']}%" if row["change_percent"] is not None else "—"
            rows.append((f.name, f.detail.get("model") or "—", f"{row['amount']} ({unit})",
                         row["before"] or "—", row["after"] or "—", pct))
    return rows


def _md_pricing(findings: list[Finding]) -> list[str]:
    lines = ["| Channel | Model | Price | Before | After | Change |", "|---|---|---|--:|--:|--:|"]
    for channel, model, item, before, after, pct in pricing_rows(findings):
        model = f"`{model}`" if model != "—" else model
        lines.append(f"| `{channel}` | {model} | {item} | {before} | {after} | {pct} |")
    return lines


def _md_section(category: str, findings: list[Finding]) -> list[str]:
    opened = " open" if category in _OPEN else ""
    lines = [f"<details{opened}>", f"<summary><b>{TITLES[category]} ({len(findings)})</b>"
             "</summary>", ""]
    if category == "routing":
        for f in findings:
            lines += _md_routing(f)
    elif category == "pricing":
        lines += _md_pricing(findings) + [""]
    else:
        for f in findings:
            lines += _md_finding(f)
        lines.append("")
    return [*lines, "</details>", ""]


def render_markdown(review: Review) -> str:
    """A pull-request comment: the marker, a summary table, then one collapsible section per
    class that has findings."""
    counts = review.counts()
    lines = [MARKER, "### Catalog changes", "",
             f"`{review.base.label}` → `{review.head.label}`", ""]
    if not review.findings:
        return "\n".join([*lines, "No changes.", ""])
    lines += ["| Class | Changes |", "|---|--:|"]
    lines += [f"| {TITLES[c]} | {counts[c]} |" for c in CATEGORIES]
    lines.append("")
    for category in CATEGORIES:
        if counts[category]:
            lines += _md_section(category, review.of(category))
    return "\n".join(lines).rstrip() + "\n"


# --- terminal -------------------------------------------------------------------------------

def _plain(text: str) -> str:
    return re.sub(r"`([^`]*)`", r"\1", text)


def _text_routing(console: Console, f: Finding) -> None:
    before, after = f.detail["before"], f.detail["after"]
    table = Table(title=f"{f.name}{' (new model)' if before is None else ''}",
                  title_justify="left", show_edge=False)
    for header in ("channel", "first choice before", "after"):
        table.add_column(header, justify="left" if header == "channel" else "right")
    names = dict.fromkeys([*(before or {}).get("shares", {}), *after["shares"],
                           *(before or {}).get("excluded", {}), *after["excluded"]])
    for name in names:
        table.add_row(name, _cell(before, name), _cell(after, name))
    console.print(table)
    console.print(Text(f"  failover before: {_order(before)}\n  failover after:  {_order(after)}"))


def _text_pricing(console: Console, findings: Iterable[Finding]) -> None:
    table = Table(show_edge=False)
    for header in ("channel", "model", "price", "before", "after", "change"):
        # fold, never cut: a reviewer must see whole channel names and amounts
        table.add_column(header, justify="right" if header in ("before", "after", "change")
                         else "left", overflow="fold")
    for row in pricing_rows(findings):
        table.add_row(*row)
    console.print(table)


def render_text(review: Review, console: Console) -> None:
    """Print the review for a terminal: a summary line, then each class's findings."""
    console.print(Text(f"{review.base.label} → {review.head.label}", style="bold"))
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
                console.print(Text(f"• {_plain(_subject(f))}: {_plain(f.message)}"))
                if f.detail.get("text_diff"):
                    console.print(Text(textwrap.indent(f.detail["text_diff"], "    ")))
