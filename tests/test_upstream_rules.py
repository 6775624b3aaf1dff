"""validate flags risky upstream URLs (warnings, errors under --strict; loopback and private
addresses only as notices) and refuses framing headers in a catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog.compile import build
from gateway.diagnostics import ERROR, NOTICE, WARNING
from tests.conftest import write_catalog


def with_provider(
    root: Path, base_url: str, *, headers: str = "", channel_headers: str = ""
) -> Path:
    write_catalog(root)
    (root / "upstream.yaml").write_text(
        f"""\
kind: Provider
name: up
protocol: openai
base_url: "{base_url}"
auth: {{type: none}}
{headers}
---
kind: Channel
name: echo@up
model: echo
provider: up
upstream_model: echo
priority: high
price: {{currency: USD, unit: per_million_tokens, input: "0", output: "0"}}
{channel_headers}
""",
        encoding="utf-8",
    )
    return root


def findings(root: Path) -> list[tuple[str, str]]:
    return sorted((d.code, d.severity) for d in build(root).diagnostics)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://169.254.169.254/latest", [("MY417", WARNING)]),
        ("http://[fe80::1]/v1", [("MY417", WARNING)]),
        ("http://2852039166/v1", [("MY417", WARNING), ("MY417", WARNING)]),  # 169.254.169.254
        ("http://0xa9fea9fe/v1", [("MY417", WARNING), ("MY417", WARNING)]),
        ("http://0251.0376.0251.0376/v1", [("MY417", WARNING), ("MY417", WARNING)]),
        ("http://[::ffff:169.254.169.254]/v1", [("MY417", WARNING), ("MY417", WARNING)]),
        ("http://0.0.0.0:8080/v1", [("MY417", WARNING)]),
        ("http://2130706433:9/v1", [("MY417", WARNING), ("MY419", NOTICE)]),  # 127.0.0.1
        ("http://127.1:9/v1", [("MY417", WARNING), ("MY419", NOTICE)]),
        ("http://api.example.com/v1", [("MY418", WARNING)]),
        ("http://8.8.8.8/v1", [("MY418", WARNING)]),
        ("http://127.0.0.1:8080/v1", [("MY419", NOTICE)]),
        ("http://localhost:8080/v1", [("MY419", NOTICE)]),
        ("http://[::1]:8080/v1", [("MY419", NOTICE)]),
        ("http://10.1.2.3/v1", [("MY419", NOTICE)]),
        ("https://192.168.1.10/v1", [("MY419", NOTICE)]),
        ("https://api.example.com/v1", []),
        ("https://1password.example.com/v1", []),
    ],
)
def test_risky_base_urls_are_flagged(tmp_path, url, expected):
    assert findings(with_provider(tmp_path / "c", url)) == expected


def validate(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_metadata_address_is_a_warning_and_an_error_under_strict(tmp_path):
    root = with_provider(tmp_path / "c", "http://169.254.169.254/v1")
    lenient, strict = validate(root), validate(root, "--strict")
    assert lenient.returncode == 0 and "warning[MY417]" in lenient.stdout
    assert strict.returncode == 1 and "169.254.169.254" in strict.stdout
    assert build(root, strict=True).snapshot is None


def test_loopback_test_upstream_passes_strict_with_a_notice(tmp_path):
    root = with_provider(tmp_path / "c", "http://127.0.0.1:9/v1")
    strict = validate(root, "--strict")
    assert strict.returncode == 0, strict.stdout
    assert "notice[MY419]" in strict.stdout and "1 notice" in strict.stdout
    github = validate(root, "--strict", "--format", "github")
    assert "::notice file=" in github.stdout


@pytest.mark.parametrize("name", ["Host", "transfer-encoding", "Content-Length", "Connection"])
def test_framing_header_in_a_provider_is_an_error(tmp_path, name):
    root = with_provider(
        tmp_path / "c", "https://api.example.com/v1", headers=f"headers: {{{name}: x}}"
    )
    result = build(root)
    errors = [d for d in result.diagnostics if d.severity == ERROR]
    assert [d.code for d in errors] == ["MY420"] and result.snapshot is None
    assert errors[0].line == 6 and name in errors[0].message


def test_framing_header_in_a_channel_is_an_error(tmp_path):
    root = with_provider(
        tmp_path / "c",
        "https://api.example.com/v1",
        channel_headers="options: {headers: {Transfer-Encoding: chunked}}",
    )
    assert [(d.code, d.severity) for d in build(root).diagnostics] == [("MY420", ERROR)]


def test_header_value_with_a_line_break_is_an_error(tmp_path):
    root = with_provider(
        tmp_path / "c",
        "https://api.example.com/v1",
        headers='headers: {X-Team: "a\\r\\nHost: evil"}',
    )
    assert [(d.code, d.severity) for d in build(root).diagnostics] == [("MY420", ERROR)]


def test_bundled_catalog_has_no_risky_upstream():
    root = Path(__file__).parent.parent / "catalog"
    assert not [
        d for d in build(root).diagnostics if d.code in ("MY417", "MY418", "MY419", "MY420")
    ]
