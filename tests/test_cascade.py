"""One mistake, one finding: a file that fails to load, or a document of a misspelt kind,
yields no follow-on reference errors elsewhere, and the root cause is printed first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog.compile import build
from gateway.diagnostics import ERROR

BUNDLED = Path(__file__).parent.parent / "catalog"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(BUNDLED, root)
    return root


def break_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def errors(root: Path) -> list:
    return [d for d in build(root).diagnostics if d.severity == ERROR]


def validate_output(root: Path) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    return run.stdout.splitlines()


def test_indentation_error_in_one_file_is_the_only_error(catalog):
    break_file(
        catalog / "models" / "openai.yaml",
        "  context_tokens: 128000\n  max_output",
        "  context_tokens: 128000\n    max_output",
    )
    found = errors(catalog)
    assert [d.code for d in found] == ["MY102"], found
    broken = (catalog / "models" / "openai.yaml").read_text().splitlines()
    assert found[0].file.endswith("models/openai.yaml")
    assert found[0].line == broken.index("    max_output_tokens: 16384") + 1


def test_root_cause_is_printed_first(catalog):
    break_file(
        catalog / "models" / "openai.yaml",
        "  context_tokens: 128000\n  max_output",
        "  context_tokens: 128000\n    max_output",
    )
    # A genuine unknown reference in a file that sorts before the broken one.
    break_file(catalog / "consumers.yaml", "gpt-4o-mini", "gpt-4o-nano")
    lines = validate_output(catalog)
    assert "error[MY102]" in lines[0], lines
    assert any("error[MY304]" in line and "gpt-4o-nano" in line for line in lines[1:]), lines


def test_reference_to_a_name_the_broken_file_does_not_define_is_still_reported(catalog):
    break_file(
        catalog / "models" / "openai.yaml",
        "  context_tokens: 128000\n  max_output",
        "  context_tokens: 128000\n    max_output",
    )
    break_file(catalog / "consumers.yaml", "gpt-4o-mini", "gpt-4o-nano")
    assert sorted(d.code for d in errors(catalog)) == ["MY102", "MY304"]


def test_misspelt_kind_gives_one_error_and_no_misleading_suggestions(catalog):
    break_file(
        catalog / "models" / "openai.yaml",
        "kind: Model\nname: gpt-4o\n",
        "kind: Modle\nname: gpt-4o\n",
    )
    found = errors(catalog)
    assert [d.code for d in found] == ["MY201"], found
    assert "did you mean 'Model'?" in found[0].hint
    assert not any("gpt-4o-mini" in d.hint for d in found)


def test_broken_provider_file_hides_no_other_file_but_adds_no_unknown_provider(catalog):
    break_file(
        catalog / "providers" / "openai.yaml",
        "auth:\n  type: bearer",
        "auth:\n type: bearer\n   x: [",
    )
    found = errors(catalog)
    assert [d.code for d in found] == ["MY102"], found


def test_refused_tag_loses_only_its_document(catalog):
    break_file(
        catalog / "models" / "openai.yaml",
        "display_name: GPT-4o\n",
        "display_name: !!python/name:os.system GPT-4o\n",
    )
    found = errors(catalog)
    assert [d.code for d in found] == ["MY106"], found


def test_file_with_nothing_recognisable_suppresses_reference_errors(catalog):
    (catalog / "models" / "openai.yaml").write_text("- [unclosed\n", encoding="utf-8")
    found = errors(catalog)
    assert [d.code for d in found] == ["MY102"], found
