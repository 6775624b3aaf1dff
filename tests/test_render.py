"""Rendering a review: markdown PR comment, stable JSON, rich terminal text."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from gateway.review import review_snapshots
from gateway.review.mask import looks_like_key, mask_value
from gateway.review.render import MARKER, render_json, render_markdown, render_text, to_json
from gateway.review.text import text_diff
from tests.review_support import BASE, compiled, review_pair, setter


def multi_change(tmp_path):
    return review_pair(
        tmp_path,
        ("Channel", "big@openai", setter(weight=1)),
        ("Model", "small", setter(aliases=["chat-default", "chat-best"])),
        ("Model", "big", setter(aliases=[], description="For hard questions.")),
        ("PriceBook", "azure-list", lambda d: d["prices"]["gpt-4o-mini"].update(input="0.18")),
        ("Provider", "openai", lambda d: d["auth"].update(token="${OPENAI_API_KEY_NEW}")),
        ("Channel", "small@azure", setter(data_destination="overseas")),
    )


def text_of(review) -> str:
    out = io.StringIO()
    render_text(review, Console(file=out, width=120, color_system=None))
    return out.getvalue()


def test_markdown_starts_with_marker_and_a_one_line_plan_with_both_digests(tmp_path):
    review = multi_change(tmp_path)
    lines = render_markdown(review).splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "### Plan: 2 breaking, 3 security, 1 routing, 1 pricing, 1 other"
    assert review.base.digest[:12] in lines[3] and review.head.digest[:12] in lines[3]


def test_markdown_sections_go_breaking_security_routing_pricing_other(tmp_path):
    text = render_markdown(multi_change(tmp_path))
    at = [
        text.index(f"<summary><b>{t} (")
        for t in ("Breaking", "Security", "Routing", "Pricing", "Other")
    ]
    assert at == sorted(at)


def test_markdown_groups_price_changes_by_percent_largest_first(tmp_path):
    review = review_pair(
        tmp_path,
        ("PriceBook", "azure-list", lambda d: d["prices"]["gpt-4o-mini"].update(input="0.18")),
        (
            "PriceBook",
            "openai-list",
            lambda d: (
                d["prices"]["gpt-4o"].update(input="2.75", output="11.00"),
                d["prices"]["gpt-4-turbo"].update(input="11", output="33"),
            ),
        ),
    )
    text = render_markdown(review)
    assert text.index("**+20%** (1 price)") < text.index("**+10%** (2 prices)")


def test_a_changed_number_shows_though_its_spelling_changed_too(tmp_path):
    review = review_pair(
        tmp_path,
        (
            "PriceBook",
            "openai-list",
            lambda d: d["prices"]["gpt-4o"].update(input="2.5", output="10.50"),
        ),
    )
    (row,) = [
        r for f in review.of("pricing") for r in f.detail["amounts"] if f.name == "big@openai"
    ]
    assert (row["amount"], row["before"], row["after"]) == ("output", "10.00", "10.50")


def test_markdown_puts_each_class_in_a_collapsible_section(tmp_path):
    text = render_markdown(multi_change(tmp_path))
    for title, count in (
        ("Breaking", 2),
        ("Routing", 1),
        ("Pricing", 1),
        ("Security", 3),
        ("Other", 1),
    ):
        assert f"<summary><b>{title} ({count})</b></summary>" in text
    # five classes, per-consumer impact and the raw field changes
    assert text.count("<details") == text.count("</details>") == 7


def test_markdown_routing_table_shows_shares_before_and_after(tmp_path):
    text = render_markdown(multi_change(tmp_path))
    assert "| `big@openai` | 75% | 50% |" in text
    assert "| `big@azure` | 25% | 50% |" in text


def test_markdown_pricing_table_shows_percent(tmp_path):
    text = render_markdown(multi_change(tmp_path))
    assert "| `small@azure` | `small` | input (USD per 1M tokens) | 0.15 | 0.18 | +20% |" in text


def test_markdown_lines_outside_tables_stay_short(tmp_path):
    review = review_pair(
        tmp_path,
        ("Settings", "settings", setter(system_prompt="word " * 80)),
        ("Consumer", "support-bot", setter(models=[])),
    )
    for line in render_markdown(review).splitlines():
        assert line.startswith("|") or len(line) <= 120, line


def test_no_change_says_so(tmp_path):
    review = review_snapshots(compiled(BASE), compiled(BASE))
    assert "No changes." in render_markdown(review)
    assert "No changes." in text_of(review)


def test_json_has_the_documented_keys(tmp_path):
    data = json.loads(render_json(multi_change(tmp_path)))
    assert list(data) == [
        "format",
        "version",
        "base",
        "head",
        "verdict",
        "summary",
        "findings",
        "impact",
        "warnings",
        "cost",
        "changes",
    ]
    assert (data["format"], data["version"]) == ("modelyard-diff", 1)
    assert list(data["summary"]) == ["breaking", "security", "routing", "pricing", "quota", "other"]
    assert set(data["base"]) == {"label", "digest"}
    for finding in data["findings"]:
        assert {"class", "kind", "name", "message"} <= set(finding)
    routing = next(f for f in data["findings"] if f["class"] == "routing")
    assert set(routing["before"]) == {"shares", "failover", "excluded"}
    pricing = next(f for f in data["findings"] if f["class"] == "pricing")
    assert {"model", "provider", "upstream_model", "currency", "unit", "amounts"} <= set(pricing)
    assert set(pricing["amounts"][0]) == {"amount", "before", "after", "change_percent"}
    for change in data["changes"]:
        assert set(change) == {"kind", "name", "action", "fields"}


def test_no_output_carries_a_secret_reference_or_key_hash(tmp_path):
    review = review_pair(
        tmp_path,
        ("Provider", "openai", lambda d: d["auth"].update(token="${OPENAI_SECRET}")),
        ("Consumer", "analyst", lambda d: d["key_sha256"].append("ab" * 32)),
        ("Provider", "azure", setter(headers={"X-Token": "sk-live-abcdefghijklmnop"})),
    )
    for text in (
        render_markdown(review),
        render_json(review),
        text_of(review),
        json.dumps(to_json(review)),
    ):
        # The new variable's name is told (it must be set before deploy), never a value.
        assert "OPENAI_SECRET" in text
        for secret in ("OPENAI_API_KEY", "ab" * 32, "sk-live-abcdefghijklmnop"):
            assert secret not in text


def test_terminal_text_lists_every_class(tmp_path):
    text = text_of(multi_change(tmp_path))
    for title in ("Breaking (2)", "Routing (1)", "Pricing (1)", "Security (3)", "Other (1)"):
        assert title in text
    assert "alias chat-best: alias retargeted: big → small" in text
    assert "+20%" in text


@pytest.mark.parametrize(
    "value",
    [
        "sk-proj-abcdefghijklmnop",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_0123456789abcdefABCDEF",
        "Zx9q2LmN8vB4tY7wK1sD5fG3hJ6kP0aQ",
    ],
)
def test_key_looking_values_are_masked(value):
    assert looks_like_key(value)
    assert mask_value("channel", ("options", "headers", "X-Key"), value) == "***"


@pytest.mark.parametrize(
    "value",
    [
        "claude-3-5-sonnet-20240620",
        "gpt-4o-mini-2024-07-18",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "overseas",
        "https://api.openai.com/v1",
    ],
)
def test_ordinary_values_are_shown(value):
    assert not looks_like_key(value)


def test_text_diffs_are_wrapped_for_reading():
    diff = text_diff("short", "x " * 200)
    assert max(len(line) for line in diff.splitlines()) <= 101  # the +/- sign and 100 columns


def test_split_comment_keeps_breaking_and_security_and_points_to_the_rest(tmp_path):
    from gateway.review.comment import split_comment

    text = render_markdown(multi_change(tmp_path))
    parts = split_comment(text, limit=700, max_parts=1, rest_url="https://ci.example/run/1")
    essential = [p for p in parts if p.essential]
    assert essential and all(len(p.body) <= 700 for p in parts)
    kept = " ".join(p.body for p in parts)
    assert "Breaking (2)" in kept and "Security (3)" in kept
    assert "alias retargeted" in kept and "secret reference changed" in kept
    assert "Pricing (1)" not in kept and "Other (1)" not in kept
    assert "[the full diff](https://ci.example/run/1)" in parts[-1].body
    for part in parts:
        assert part.body.startswith(MARKER)
        assert part.body.count("<details") == part.body.count("</details>")


def test_split_comment_reopens_a_table_cut_in_the_middle(tmp_path):
    from gateway.review.comment import split_comment

    rows = "\n".join(f"| `c{i}` | {i} |" for i in range(200))
    text = f"{MARKER}\n<details>\n<summary><b>Pricing (200)</b></summary>\n\n| Channel | Price |\n|---|--:|\n{rows}\n\n</details>\n"
    parts = split_comment(text, limit=1500, max_parts=50)
    assert len(parts) > 2
    for part in parts[1:]:
        assert "| Channel | Price |\n|---|--:|" in part.body
        assert "Pricing (200) (continued)" in part.body
    assert sum(p.body.count("| `c") for p in parts) == 200
