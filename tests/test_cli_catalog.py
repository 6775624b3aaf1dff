"""The validate, compile and models commands: output formats, files written and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import catalog_cmds
from gateway.catalog.codes import CODES
from gateway.catalog.snapshot import Snapshot

REPO = Path(__file__).resolve().parent.parent
BASE = Path(__file__).parent / "fixtures" / "catalogs" / "base"
BROKEN_CHANNEL = "kind: Channel\nname: x\nmodel: gpt-4\nprovider: mock\nupstream_model: m\n"
UNPRICED_CHANNEL = "kind: Channel\nname: y\nmodel: claude\nprovider: mock\nupstream_model: m\n"

# The same registration as cli/main.py, for these three commands only.
app = typer.Typer()
app.command("validate")(catalog_cmds.validate)
app.command("compile")(catalog_cmds.compile_)
app.command("models")(catalog_cmds.models)


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(BASE, tmp_path / "catalog")
    return Path("catalog")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_validate_clean_catalog_exits_0_with_a_summary(catalog):
    result = run("validate", str(catalog))
    assert result.exit_code == 0
    assert result.output == "catalog: no problems found\n"


def test_validate_defaults_to_the_catalog_folder(catalog):
    assert run("validate").exit_code == 0


def test_validate_reports_located_errors_with_hint_and_exits_1(catalog):
    (catalog / "bad.yaml").write_text(BROKEN_CHANNEL)
    result = run("validate", str(catalog))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "catalog/bad.yaml:3:1: error[MY304]: Channel 'x' refers to unknown Model 'gpt-4' "
        "— did you mean 'gpt-4o'?",
        "catalog: 1 error, 0 warnings",
    ]


def test_warnings_pass_but_fail_under_strict(catalog):
    (catalog / "warn.yaml").write_text(UNPRICED_CHANNEL)
    assert run("validate", str(catalog)).exit_code == 0
    strict = run("validate", str(catalog), "--strict")
    assert strict.exit_code == 1 and "warning[MY412]" in strict.output


def test_validate_json_format_is_a_list_of_diagnostics(catalog):
    (catalog / "bad.yaml").write_text(BROKEN_CHANNEL)
    result = run("validate", str(catalog), "--format", "json")
    assert result.exit_code == 1
    (item,) = json.loads(result.output)
    assert (item["file"], item["line"], item["code"], item["severity"]) == (
        "catalog/bad.yaml",
        3,
        "MY304",
        "error",
    )


def test_validate_github_format_gives_workflow_annotations(catalog):
    (catalog / "bad.yaml").write_text(BROKEN_CHANNEL)
    first = run("validate", str(catalog), "--format", "github").output.splitlines()[0]
    assert first.startswith("::error file=catalog/bad.yaml,line=3,col=1,title=MY304::[MY304] ")


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "no-such-catalog"),
        ("validate", "catalog", "--format", "xml"),
        ("models", "catalog", "--type", "hologram"),
        ("compile", "--bogus"),
    ],
)
def test_bad_usage_exits_2(catalog, args):
    assert run(*args).exit_code == 2


def test_compile_writes_the_snapshot_file(catalog):
    result = run("compile", str(catalog), "-o", "snapshot.json")
    assert result.exit_code == 0
    snap = Snapshot.from_bytes(Path("snapshot.json").read_bytes())
    assert snap.models[0].name == "gpt-4o"


def test_compile_to_a_missing_folder_is_bad_usage(catalog):
    result = run("compile", str(catalog), "-o", "no/such/dir/snapshot.json")
    assert result.exit_code == 2 and "cannot write" in result.stderr


def test_compile_without_output_prints_the_same_bytes(catalog):
    run("compile", str(catalog), "-o", "snapshot.json")
    assert run("compile", str(catalog)).stdout_bytes == Path("snapshot.json").read_bytes()


def test_compile_with_errors_writes_nothing_and_exits_1(catalog):
    (catalog / "bad.yaml").write_text(BROKEN_CHANNEL)
    result = CliRunner().invoke(app, ["compile", str(catalog), "-o", "snapshot.json"])
    assert result.exit_code == 1
    assert "error[MY304]" in result.stderr and result.stdout == ""
    assert not Path("snapshot.json").exists()


def test_models_lists_filtered_rows_as_json(catalog):
    result = run(
        "models",
        str(catalog),
        "--type",
        "chat",
        "--status",
        "active",
        "--search",
        "t",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    assert [r["name"] for r in json.loads(result.output)] == ["gpt-4o", "claude", "titler"]


def test_models_table_shows_names_and_channel_counts(catalog):
    result = run("models", str(catalog), "--vendor", "OpenAI")
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if "gpt-4o" in line]
    assert len(lines) == 1 and "2/2" in lines[0]


def test_module_entry_point_validates_the_bundled_catalog():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", "catalog"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("catalog: no problems found")


def test_the_diagnostics_page_lists_every_diagnostic_code_with_its_severity():
    reference = (REPO / "docs" / "diagnostics.md").read_text()
    missing = [
        code for code, (severity, _) in CODES.items() if f"| {code} | {severity} |" not in reference
    ]
    assert missing == []
