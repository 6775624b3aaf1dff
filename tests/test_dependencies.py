"""Every third-party package that gateway/ and cli/ import is declared in pyproject.toml,
so a fresh install never depends on what another package happens to pull in."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imported_modules() -> set[str]:
    found: set[str] = set()
    for folder in ("gateway", "cli"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"gateway", "cli", "__future__"}


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = [
        *project["dependencies"],
        *(s for extra in project["optional-dependencies"].values() for s in extra),
    ]
    return {
        re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in specs
    }


def test_every_imported_third_party_package_is_declared():
    distributions = packages_distributions()
    missing = []
    for module in sorted(imported_modules()):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & declared():
            missing.append((module, sorted(names)))
    assert missing == []


def test_ci_installs_the_project_once():
    script = (REPO / ".ci" / "run").read_text()
    assert len(re.findall(r"pip install[^\n]*-e '\.\[test\]'", script)) == 1
