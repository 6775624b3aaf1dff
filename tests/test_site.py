"""`modelyard site`: what the static catalog site publishes, and what it never does."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Snapshot
from gateway.site import build_site
from gateway.site.view import site_view, slug
from tests.conftest import (
    KEY_ALICE,
    channel,
    consumer,
    key_digest,
    model,
    provider,
    snapshot_dict,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundled() -> Snapshot:
    result = build(REPO / "catalog")
    assert result.snapshot is not None
    return Snapshot.from_dict(result.snapshot)


def small() -> Snapshot:
    return Snapshot.from_dict(small_dict())


def small_dict() -> dict:
    return snapshot_dict(
        providers=[
            provider(
                "up",
                base_url="https://up.internal.example/v1",
                auth={"type": "bearer", "token": "${UP_SECRET_KEY}"},
                headers={"x-tenant": "tenant-7"},
            ),
            provider("mock", protocol="mock"),
        ],
        models=[
            model(
                "open",
                order=1,
                vendor="Acme",
                description="An open model",
                system_prompt="SECRET PROMPT",
                aliases=["op"],
            ),
            model(
                "team", order=2, visibility="protected", owner={"type": "org", "code": "research"}
            ),
            model("helper", order=3, visibility="internal"),
            model("mine", order=4, visibility="private", owner={"type": "person", "code": "alice"}),
            model("odd/name:v1", order=5),
        ],
        channels=[
            channel(
                "open@up",
                "open",
                "up",
                priority="high",
                weight=3,
                price={
                    "currency": "USD",
                    "unit": "per_thousand_tokens",
                    "input": "0.001",
                    "output": "0.002",
                },
            ),
            channel("open@up2", "open", "up", priority="high", weight=1),
            channel("open@mock", "open", "mock", priority="low"),
            channel("open@alice", "open", "mock", owner={"type": "person", "code": "alice"}),
            channel("team@mock", "team", "mock"),
            channel("helper@mock", "helper", "mock"),
            channel("mine@mock", "mine", "mock"),
            channel("odd@mock", "odd/name:v1", "mock"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE, orgs=["research"]),
            consumer("bob", "sk-bob-key-123456"),
        ],
    )


def all_text(root: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(root.rglob("*")) if p.is_file())


def test_site_lists_public_and_protected_models_only_by_default(tmp_path: Path) -> None:
    report = build_site(small(), tmp_path)
    pages = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert pages == sorted(["open.html", "team.html", f"{slug('odd/name:v1')}.html"])
    assert report.models == 3
    text = all_text(tmp_path)
    assert "helper" not in text and "mine" not in text
    assert "open@alice" not in text  # a private channel serves only its owner


def test_flags_add_internal_and_private_models(tmp_path: Path) -> None:
    build_site(small(), tmp_path, include_internal=True, include_private=True)
    names = {p.stem for p in (tmp_path / "models").iterdir()}
    assert {"helper", "mine"} <= names
    assert "open@alice" in (tmp_path / "models" / "open.html").read_text()


def test_site_holds_no_secret_reference_key_digest_base_url_header_or_prompt(
    tmp_path: Path, bundled: Snapshot
) -> None:
    build_site(small(), tmp_path / "small", include_internal=True, include_private=True)
    build_site(bundled, tmp_path / "bundled", include_internal=True, include_private=True)
    text = all_text(tmp_path)
    assert "${" not in text and "UP_SECRET_KEY" not in text
    assert "up.internal.example" not in text and "tenant-7" not in text
    assert "SECRET PROMPT" not in text
    digests = [key_digest(KEY_ALICE)] + [k for c in bundled.consumers for k in c.key_sha256]
    assert not [d for d in digests if d in text]


def test_pages_use_no_external_asset_and_every_local_link_resolves(
    tmp_path: Path, bundled: Snapshot
) -> None:
    build_site(bundled, tmp_path)
    for page in tmp_path.rglob("*.html"):
        html = page.read_text()
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html), page
        for target in re.findall(r'(?:href|src)="([^"#]+)"', html):
            if target.startswith(("http://", "https://")):
                assert re.search(rf'<a href="{re.escape(target)}"', html)  # links only
                continue
            assert (page.parent / target).resolve().is_file(), (page, target)


def test_model_page_shows_channels_with_class_weight_share_and_price(tmp_path: Path) -> None:
    build_site(small(), tmp_path)
    html = (tmp_path / "models" / "open.html").read_text()
    rows = re.findall(r"<tr><th scope=\"row\"><code>([^<]+)</code></th>(.*?)</tr>", html)
    cells = {name: re.findall(r"<td[^>]*>(.*?)</td>", rest) for name, rest in rows}
    assert cells["open@up"][2:5] == ["high", "3", "75.0 %"]
    assert cells["open@up2"][4] == "25.0 %"
    assert cells["open@mock"][2] == "low" and cells["open@mock"][4] == "0 % (failover)"
    # per thousand tokens -> per million: 0.001 -> 1, 0.002 -> 2
    assert "input 1, output 2 USD per million tokens" in cells["open@up"][7]
    assert "<code>op</code>" in html  # the alias
    assert "<code>alice</code>, <code>bob</code>" in html  # consumers that may call it
    team = (tmp_path / "models" / "team.html").read_text()
    assert "members of org research" in team
    assert "<code>alice</code>." in team and "<code>bob</code>" not in team


def test_list_rows_carry_what_search_and_filters_read(tmp_path: Path) -> None:
    build_site(small(), tmp_path)
    html = (tmp_path / "index.html").read_text()
    row = re.search(r'<tr data-search="([^"]*)"[^>]*data-name="open"[^>]*>', html)
    assert row is not None
    assert row.group(1) == "open open acme an open model op"
    assert 'data-protocol="mock|openai"' in row.group(0)
    for label in (
        "Search",
        "Type",
        "Vendor",
        "Capability",
        "Native tool",
        "Visibility",
        "Status",
        "Protocol",
        "Data destination",
        "Sort by",
    ):
        assert f">{label}</label>" in html


def test_odd_model_names_get_distinct_safe_file_names() -> None:
    names = ["a/b", "a_b", "a:b", "../x", ".hidden", "plain-1.0"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) and not s.startswith(".") for s in slugs)
    assert slug("plain-1.0") == "plain-1.0"


def test_expected_price_weights_first_choice_channels_by_share() -> None:
    view = {v.model.name: v for v in site_view(small()).models}["open"]
    # open@up2 has no price: no expected price can be stated
    assert view.price is None
    bundled_view = site_view(Snapshot.from_dict(build(REPO / "catalog").snapshot or {}))
    gpt = {v.model.name: v for v in bundled_view.models}["gpt-4o"]
    first = [c for c in gpt.channels if c.share]
    expected = sum(c.share * float(c.price.amounts["input"]) for c in first)
    assert float(gpt.headline_price) == pytest.approx(expected)


def test_cli_builds_from_a_snapshot_file_and_explains_a_missing_catalog(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(small_dict()))
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "site", str(snapshot), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "index.html").is_file()
    assert "3 models" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "cli.main", "site", "-o", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missing.returncode == 2
    assert "catalog does not exist" in missing.stderr and "PATH" in missing.stderr
