"""The pull-request comment: a one-line plan verdict, then sections by risk.

Layout: the hidden marker, `Plan: 1 breaking, 2 security, …` with both snapshot digests,
breaking and security (open), routing, pricing grouped by percent (largest first), other,
per-consumer impact, validation warnings, and the raw field changes, each collapsible.
`gateway.review.comment` splits the result across comments without cutting anything.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from gateway.review.findings import CATEGORIES, Finding, Review
from gateway.review.impact import Access, ConsumerImpact
from gateway.review.pricing import unit_label
from gateway.review.routing import format_share

#: The hidden line CI uses to find its comments on a pull request.
MARKER = "<!-- modelyard-diff -->"
#: Hidden line after the security section: what precedes it is never left out of a comment.
ESSENTIAL_END = "<!-- modelyard-diff: end of breaking and security -->"
WIDTH = 110
TITLES = {
    "breaking": "Breaking",
    "routing": "Routing",
    "pricing": "Pricing",
    "security": "Security",
    "quota": "Quota",
    "other": "Other",
}
_OPEN = {"breaking", "security"}  # sections a reviewer must not miss start expanded


def verdict(review: Review) -> str:
    """`Plan: 1 breaking, 2 security, 3 routing, 40 pricing` (classes with findings only)."""
    counts = review.counts()
    parts = [f"{counts[c]} {c}" for c in CATEGORIES if counts[c]]
    return "Plan: " + (", ".join(parts) if parts else "no changes")


def _digest(digest: str | None) -> str:
    return f"`{digest[:12]}`" if digest else "—"


def subject(f: Finding) -> str:
    return f"{f.kind.replace('_', ' ')} `{f.name}`"


def _bullet(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent + "- ",
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
    ) or ["-"]


def _md_finding(f: Finding) -> list[str]:
    lines = _bullet(f"{subject(f)}: {f.message}")
    if f.detail.get("text_diff"):
        lines += [
            "",
            "  ```diff",
            *("  " + line for line in f.detail["text_diff"].splitlines()),
            "  ```",
            "",
        ]
    return lines


def failover(view: dict[str, Any] | None) -> str:
    return " → ".join(view["failover"]) if view and view["failover"] else "—"


def cell(view: dict[str, Any] | None, channel: str) -> str:
    """One channel's first-choice share in a route view, or why it is excluded."""
    if not view:
        return "—"
    if channel in view["excluded"]:
        return f"excluded: {view['excluded'][channel].split(' (')[0]}"
    return format_share(view["shares"].get(channel))


def _md_routing(f: Finding) -> list[str]:
    before, after = f.detail["before"], f.detail["after"]
    channels = list(
        dict.fromkeys(
            [
                *(before or {}).get("shares", {}),
                *after["shares"],
                *(before or {}).get("excluded", {}),
                *after["excluded"],
            ]
        )
    )
    lines = [
        f"**`{f.name}`**{' (new model)' if before is None else ''}",
        "",
        "| Channel | First choice before | After |",
        "|---|--:|--:|",
    ]
    for name in channels:
        lines.append(f"| `{name}` | {cell(before, name)} | {cell(after, name)} |")
    lines += [
        "",
        *_bullet(f"failover before: {failover(before)}"),
        *_bullet(f"failover after: {failover(after)}"),
        "",
    ]
    return lines


def pricing_rows(findings: Iterable[Finding]) -> list[tuple[str, str, str, str, str, str]]:
    """(channel, model, priced item with unit, before, after, change) per changed amount."""
    rows = []
    for f in findings:
        unit = f"{f.detail['currency']} {unit_label(f.detail['unit'])}"
        for row in f.detail["amounts"] or [
            {
                "amount": "unit",
                "before": f.detail.get("before_unit"),
                "after": f.detail["unit"],
                "change_percent": None,
            }
        ]:
            pct = f"{row['change_percent']}%" if row["change_percent"] is not None else "—"
            rows.append(
                (
                    f.name,
                    f.detail.get("model") or "—",
                    f"{row['amount']} ({unit})",
                    row["before"] or "—",
                    row["after"] or "—",
                    pct,
                )
            )
    return rows


def _percent_group(f: Finding) -> str:
    """The change every amount of a price finding shares ("+10%"), else what it is."""
    if f.message == "price removed":
        return "price removed"
    percents = {a["change_percent"] for a in f.detail["amounts"]}
    if len(percents) == 1 and None not in percents:
        return f"{percents.pop()}%"
    return "new price" if all(a["before"] is None for a in f.detail["amounts"]) else "mixed"


def _group_rank(group: str) -> tuple[int, Decimal]:
    if group.endswith("%"):
        return 1, -abs(Decimal(group[:-1]))
    return 0, Decimal(0)  # removed, new and mixed prices first: each needs a look


def _md_pricing(findings: list[Finding]) -> list[str]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(_percent_group(f), []).append(f)
    lines: list[str] = []
    for group in sorted(groups, key=_group_rank):
        members = groups[group]
        lines += [
            f"**{group}** ({len(members)} price{'s' if len(members) > 1 else ''})",
            "",
            "| Channel | Model | Price | Before | After | Change |",
            "|---|---|---|--:|--:|--:|",
        ]
        for channel, model, item, before, after, pct in pricing_rows(members):
            model = f"`{model}`" if model != "—" else model
            lines.append(f"| `{channel}` | {model} | {item} | {before} | {after} | {pct} |")
        lines.append("")
    return lines


def _details(title: str, body: list[str], opened: bool = False) -> list[str]:
    return [
        f"<details{' open' if opened else ''}>",
        f"<summary><b>{title}</b></summary>",
        "",
        *body,
        "</details>",
        "",
    ]


def _md_section(category: str, findings: list[Finding]) -> list[str]:
    body: list[str] = []
    if category == "routing":
        for f in findings:
            body += _md_routing(f)
    elif category == "pricing":
        body += _md_pricing(findings)
    else:
        for f in findings:
            body += _md_finding(f)
        body.append("")
    return _details(f"{TITLES[category]} ({len(findings)})", body, category in _OPEN)


def _routes(access: Access | None) -> str:
    if access is None:
        return "not usable"
    if not access.routes:
        return "no channel"
    return "<br>".join(
        f"`{r.channel}` {format_share(r.share)} ({r.data_destination}, {r.price})"
        for r in access.routes
    )


def _md_impact(impacts: tuple[ConsumerImpact, ...]) -> list[str]:
    body: list[str] = []
    for impact in impacts:
        body += [
            f"**`{impact.consumer}`** (max data destination {impact.max_data_destination})",
            "",
            "| Model | Impact | Before | After |",
            "|---|---|---|---|",
        ]
        for m in impact.models:
            body.append(f"| `{m.name}` | {m.verdict} | {_routes(m.before)} | {_routes(m.after)} |")
        body.append("")
    return _details(f"Per-consumer impact ({len(impacts)} consumers)", body)


def _md_warnings(review: Review) -> list[str]:
    body = [
        f"- `{d.file}:{d.line}` {d.code}: {d.message}" + (f" — {d.hint}" if d.hint else "")
        for d in sorted(review.warnings)
    ]
    return _details(f"Validation warnings ({len(review.warnings)})", [*body, ""], True)


def _raw(value: Any) -> str:
    """A raw value in one short cell: long texts are named, not repeated (the Other section
    shows their text diff)."""
    text = "—" if value is None else str(value)
    return f"`{text}`" if len(text) <= 40 else f"({len(text)} characters)"


def _md_raw(review: Review) -> list[str]:
    body = []
    for change in review.changes:
        body.append(f"- {change.kind.replace('_', ' ')} `{change.name}` {change.action}")
        for f in change.masked_fields():
            body += _bullet(f"`{f['path']}`: {_raw(f['before'])} → {_raw(f['after'])}", indent="  ")
    return _details(f"Raw field changes ({len(review.changes)} entities)", [*body, ""])


def cost_lines(cost: Mapping[str, Any]) -> list[str]:
    """The monthly cost change in total, then per model, largest change first."""
    head = (
        f"**Monthly cost** (from {cost['days']} days of traffic): {cost['before']} → "
        f"{cost['after']} {cost['currency']} ({_signed(cost['change'])})"
    )
    rows = sorted(cost["models"], key=lambda r: -abs(Decimal(r["change"])))
    body = ["| Model | Before | After | Change |", "|---|--:|--:|--:|"]
    body += [
        f"| `{r['model']}` | {r['before'] or '—'} | {r['after'] or '—'} | {_signed(r['change'])} |"
        for r in rows
    ]
    return [head, "", *(_details(f"Cost per model ({len(rows)})", body) if rows else [])]


def _signed(value: str) -> str:
    return value if value.startswith("-") else f"+{value}"


def render_markdown(review: Review) -> str:
    """The pull-request comment, whole; split it with `gateway.review.comment.split_comment`."""
    counts = review.counts()
    lines = [
        MARKER,
        f"### {verdict(review)}",
        "",
        f"`{review.base.label}` {_digest(review.base.digest)} → `{review.head.label}` "
        f"{_digest(review.head.digest)}",
        "",
    ]
    if review.cost is not None:
        lines += cost_lines(review.cost)
    if review.warnings:
        lines += _md_warnings(review)
    if not review.findings:
        return "\n".join([*lines, "No changes.", ESSENTIAL_END, ""])
    for category in CATEGORIES:
        if counts[category]:
            lines += _md_section(category, review.of(category))
        if category == "security":
            lines += [ESSENTIAL_END, ""]
    if review.impacts:
        lines += _md_impact(review.impacts)
    if review.changes:
        lines += _md_raw(review)
    return "\n".join(lines).rstrip() + "\n"
