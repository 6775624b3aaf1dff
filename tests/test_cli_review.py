"""The `modelyard diff` and `modelyard import litellm` commands: output, formats, exit codes."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.review_support import BASE, FIXTURES, copy_base, edit, setter
from tests.test_sides import git

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def pair(tmp_path):
    """Base and head catalogs: a weight change (routing) and a price change (pricing)."""
    head = copy_base(tmp_path / "head")
    edit(head, "Channel", "big@openai", setter(weight=1))
    edit(head, "PriceBook", "azure-list", lambda d: d["prices"]["gpt-4o-mini"].update(input="0.3"))
    return str(BASE), str(head)


def test_diff_prints_the_classes_and_exits_0(pair):
    result = run("diff", *pair)
    assert result.exit_code == 0, result.output
    assert "Routing (1)" in result.stdout and "Pricing (1)" in result.stdout
    assert "+100%" in result.stdout


def test_fail_on_a_present_class_exits_1(pair):
    result = run("diff", *pair, "--fail-on", "breaking", "--fail-on", "pricing")
    assert result.exit_code == 1
    assert "failing: pricing" in result.stderr


def test_fail_on_absent_classes_exits_0(pair):
    assert run("diff", *pair, "--fail-on", "breaking", "--fail-on", "security").exit_code == 0


def test_fail_on_any_exits_1_for_any_change(pair):
    assert run("diff", *pair, "--fail-on", "any").exit_code == 1
    assert run("diff", pair[0], pair[0], "--fail-on", "any").exit_code == 0


def test_unknown_fail_on_class_is_bad_usage(pair):
    assert run("diff", *pair, "--fail-on", "everything").exit_code == 2


def test_json_format_is_machine_readable(pair):
    result = run("diff", *pair, "--format", "json")
    data = json.loads(result.stdout)
    assert data["summary"] == {
        "breaking": 0,
        "routing": 1,
        "pricing": 1,
        "security": 0,
        "quota": 0,
        "other": 0,
    }


def test_markdown_format_is_a_pr_comment(pair):
    result = run("diff", *pair, "--format", "markdown")
    assert result.stdout.startswith("<!-- modelyard-diff -->\n")


def test_missing_side_exits_2(pair):
    result = run("diff", "no/such/place", pair[1])
    assert result.exit_code == 2
    assert "not a catalog directory, a snapshot file or a git revision" in result.stderr


def test_side_that_does_not_compile_exits_2_with_its_diagnostics(tmp_path):
    head = copy_base(tmp_path / "head")
    edit(head, "Model", "small", lambda d: "delete")  # still named by a consumer and a task
    edit(head, "Channel", "small@azure", lambda d: "delete")
    result = run("diff", str(BASE), str(head))
    assert result.exit_code == 2
    assert "MY304" in result.stderr and "'small'" in result.stderr
    assert "does not compile" in result.stderr


def test_head_defaults_to_the_working_tree_catalog(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    shutil.copytree(BASE, repo / "catalog")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "catalog")
    edit(repo / "catalog", "Model", "big", setter(visibility="internal"))
    monkeypatch.chdir(repo)
    result = run("diff", "HEAD", "--format", "json", "--fail-on", "breaking")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["head"]["label"] == "catalog (working tree)"
    assert data["findings"][0]["message"] == "visibility narrowed: public → internal"


def test_git_revisions_on_both_sides(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    shutil.copytree(BASE, repo / "catalog")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "catalog")
    edit(repo / "catalog", "Provider", "azure", setter(data_destination="overseas"))
    git(repo, "commit", "-qam", "azure overseas")
    monkeypatch.chdir(repo)
    result = run("diff", "HEAD~1", "HEAD", "--fail-on", "security")
    assert result.exit_code == 1
    assert "data destination loosened: inner → overseas" in result.stdout


def test_import_litellm_writes_files_that_validate(tmp_path):
    out = tmp_path / "imported"
    result = run(
        "import",
        "litellm",
        str(FIXTURES / "litellm-old.json"),
        "--providers",
        "openai,anthropic",
        "--with-models",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "skipped mode moderation: 1" in result.stdout
    assert (out / "price-books" / "openai.yaml").is_file()
    assert run("validate", str(out)).exit_code == 0


def test_import_litellm_provider_map(tmp_path):
    out = tmp_path / "imported"
    result = run(
        "import",
        "litellm",
        str(FIXTURES / "litellm-old.json"),
        "--providers",
        "azure",
        "--provider-map",
        "azure=azure-openai",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "provider: azure-openai" in (out / "price-books" / "azure-openai.yaml").read_text()


def test_import_litellm_bad_provider_map_is_bad_usage(tmp_path):
    result = run(
        "import",
        "litellm",
        str(FIXTURES / "litellm-old.json"),
        "--provider-map",
        "azure",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 2


def test_import_litellm_of_unknown_provider_imports_nothing(tmp_path):
    result = run(
        "import",
        "litellm",
        str(FIXTURES / "litellm-old.json"),
        "--providers",
        "nobody",
        "-o",
        str(tmp_path / "x"),
    )
    assert result.exit_code == 1 and "nothing to import" in result.stderr


def test_example_pr_comment_regenerates_and_reads_without_side_scrolling():
    sys.path.insert(0, str(REPO / "docs" / "examples"))
    try:
        from diff_comment import example_markdown
    finally:
        sys.path.pop(0)
    text = example_markdown()
    assert text.startswith("<!-- modelyard-diff -->")
    for section in ("Breaking", "Routing", "Pricing", "Security", "Other"):
        assert f"<summary><b>{section} (" in text
    assert max(len(line) for line in text.splitlines() if not line.startswith("|")) <= 120
    committed = (REPO / "docs" / "examples" / "diff-comment.md").read_text()
    assert committed == text, "run: python3 docs/examples/diff_comment.py"


def test_ci_workflow_runs_the_gate_from_the_base_branch_with_pinned_actions():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "catalog-review.yml").read_text())
    trigger = workflow[True]["pull_request"]  # YAML 1.1 reads the key `on` as True
    assert "paths" not in trigger and {"labeled", "synchronize"} <= set(trigger["types"])
    steps = workflow["jobs"]["review"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "pip install ./.modelyard-base" in runs
    assert "python .modelyard-base/.github/scripts/catalog_review.py" in runs
    assert "${{" not in runs  # expressions reach scripts through env: only
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    base = next(s for s in steps if s.get("with", {}).get("path") == ".modelyard-base")
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"


def test_pre_commit_hook_runs_validate_on_catalog_files():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook == {
        **hook,
        "id": "modelyard-validate",
        "entry": "modelyard validate",
        "language": "python",
        "files": "^catalog/",
        "pass_filenames": False,
    }
