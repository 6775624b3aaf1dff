"""The README a newcomer reads: short, its two commands the ones CI runs, every link alive,
and the mistakes it warns about answered with what to do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
SERVE = "python3 -m pip install . && modelyard serve"
TEST = "python3 -m pip install -e '.[test]' && python3 -m pytest"


def test_readme_reads_in_five_minutes() -> None:
    assert len(README.encode()) <= 15 * 1024


def test_readme_gives_the_serve_and_test_commands_and_ci_runs_the_same_test_command() -> None:
    commands = [
        line
        for block in re.findall(r"```sh\n(.*?)```", README, re.S)
        for line in block.splitlines()
        if "pip install" in line
    ]
    assert commands == [SERVE, TEST]
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    # CI runs exactly the README's command, last; the linters run inside it.
    assert ci[-1] == TEST
    assert sum("pip install" in line and "-e" in line for line in ci) == 1


def test_every_local_link_of_the_readme_and_the_docs_resolves() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_readme_links_every_docs_page_and_the_screenshots() -> None:
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in README, page.name
    for shot in ("site-models", "site-model", "site-prices", "admin-ui"):
        assert f"docs/images/{shot}.png" in README
        assert (REPO / "docs" / "images" / f"{shot}.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "command, says",
    [
        (["serve"], "--catalog PATH"),
        (["validate"], "modelyard validate PATH"),
        (["route", "gpt-4o"], "--catalog PATH"),
        (["site", "-o", "out"], "modelyard site PATH"),
    ],
)
def test_commands_run_outside_the_checkout_say_what_to_do(
    tmp_path: Path, command: list[str], says: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    text = " ".join(done.stderr.split())
    assert "cd modelyard" in text and says in text, text


def test_help_points_to_the_docs() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    for args, page in (
        (["--help"], "docs/cli.md"),
        (["site", "--help"], "docs/console.md"),
        (["serve", "--help"], "docs/proxy.md"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert page in done.stdout
