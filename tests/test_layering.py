"""The packages of gateway/ import each other in one direction only: no import cycles between
catalog, proxy, usage, review, quota, state and site (imports only for type checking, or
inside a function, do not count: they run after everything is loaded)."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Modules a module imports when it loads: top level, outside `if TYPE_CHECKING:`."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in [node] if not isinstance(node, ast.If | ast.Try) else ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.module:
                found.add(child.module)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in GATEWAY.rglob("*.py"):
        parts = path.relative_to(GATEWAY).parts
        if len(parts) < 2:
            continue  # gateway/errors.py and friends: shared by all, import none of them
        package = parts[0]
        for module in _runtime_imports(ast.parse(path.read_text())):
            names = module.split(".")
            if (
                names[0] == "gateway"
                and len(names) > 1
                and (GATEWAY / names[1]).is_dir()
                and names[1] != package
            ):
                graph.setdefault(package, set()).add(names[1])
    return graph


def test_no_two_packages_import_each_other_at_load_time():
    graph = package_graph()
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif len(path) < 10:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == [], cycles
    assert "proxy" not in graph.get("catalog", set()) and "proxy" not in graph.get("usage", set())
