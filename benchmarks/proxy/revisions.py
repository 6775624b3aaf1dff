"""In-process CPU per request of two revisions of the proxy, measured in alternation.

Each revision's tree is taken from git (`git archive`), given this checkout's benchmarks,
and measured with `benchmarks.proxy.inprocess` in a process of its own, the two in turn
(A B, B A, ...) so a machine that grows busier or quieter weighs on both alike. The
figure is the median over rounds; the ratio says what the change from A to B did.

    python3 -m benchmarks.proxy.revisions HEAD~1 HEAD --rounds 20
    python3 -m benchmarks.proxy.revisions main WORKTREE -- --shape agent --modes plain
    python3 -m benchmarks.proxy.revisions WORKTREE BUILT   # Python against compiled

`WORKTREE` stands for this checkout's sources as they are, committed or not; git
revisions and WORKTREE run as Python, or compiled with `--compiled` (each tree built in
place by its setup.py, where it has one). `BUILT` is this checkout as setup.py built it,
its compiled extensions included (gateway/compiled.py).

    python3 -m benchmarks.proxy.revisions HEAD~1 HEAD --compiled --rounds 20
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
WORKTREE = "WORKTREE"
BUILT = "BUILT"
#: What a measured tree needs besides this checkout's benchmarks.
TREE_PARTS = ("gateway", "cli", "schemas", "catalog", "pyproject.toml", "setup.py")
_NOT_SOURCES = shutil.ignore_patterns("__pycache__", "*.so", "*.pyd")
ROW = re.compile(r"^\| (\S+) \| (\S+) \| ([\d.]+) \|$", re.MULTILINE)


def _tree(revision: str, into: Path, compiled: bool) -> Path:
    if revision == BUILT:
        return REPO
    into.mkdir()
    if revision == WORKTREE:
        for part in TREE_PARTS:
            source = REPO / part
            if not source.exists():
                continue
            if source.is_dir():
                shutil.copytree(source, into / part, ignore=_NOT_SOURCES)
            else:
                shutil.copy(source, into / part)
    else:
        present = subprocess.run(
            ["git", "ls-tree", "--name-only", revision, *TREE_PARTS],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        archive = subprocess.run(
            ["git", "archive", revision, *present], cwd=REPO, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
    shutil.copytree(REPO / "benchmarks", into / "benchmarks", ignore=_NOT_SOURCES)
    if compiled and (into / "setup.py").exists():
        command = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
        subprocess.run(command, cwd=into, capture_output=True, check=True)
    return into


def _measure(tree: Path, args: list[str]) -> dict[tuple[str, str], float]:
    command = [sys.executable, "-m", "benchmarks.proxy.inprocess", *args]
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"inprocess failed in {tree}:\n{out.stderr}")
    return {(m[1], m[2]): float(m[3]) for m in ROW.finditer(out.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the revision before (a git revision, or WORKTREE)")
    parser.add_argument("b", help="the revision after")
    parser.add_argument("--rounds", type=int, default=10, help="measurements of each")
    parser.add_argument("--compiled", action="store_true", help="build each tree first")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after it: inprocess's arguments
    args = parser.parse_args(argv[:cut])
    extra = argv[cut + 1 :] or ["--slices", "6", "--count", "200"]
    with tempfile.TemporaryDirectory() as work:
        trees = {
            name: _tree(rev, Path(work) / name, args.compiled)
            for name, rev in (("a", args.a), ("b", args.b))
        }
        runs: dict[str, list[dict[tuple[str, str], float]]] = {"a": [], "b": []}
        for turn in range(args.rounds):
            for name in ("a", "b") if turn % 2 == 0 else ("b", "a"):
                runs[name].append(_measure(trees[name], extra))
    print(f"| setup | mode | {args.a} µs | {args.b} µs | B / A |")
    print("|---|---|---:|---:|---:|")
    for key in runs["a"][0]:
        a = statistics.median(run[key] for run in runs["a"])
        b = statistics.median(run[key] for run in runs["b"])
        print(f"| {key[0]} | {key[1]} | {a:.1f} | {b:.1f} | {b / a:.3f} |")


if __name__ == "__main__":
    main()
