"""Benchmark: the diff of two full imports of the LiteLLM price map (>= 4,000 models each).

Imports the real map twice into temporary catalogs (all providers, --with-models), the second
time with prices raised 10 % on a few hundred entries and some models removed and added;
compiles both, then times the review (diff + classification + routing) and its rendering.

    python3 -m benchmarks.diff_scale [--map PATH] [--repeat 5]

The map ships with the litellm package as model_prices_and_context_window_backup.json; pass
its path with --map when ../shared/data/litellm_model_prices.json is not there.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.catalog.compile import build, write_snapshot
from gateway.review import review_snapshots
from gateway.review.importers.litellm import import_litellm
from gateway.review.importers.yamlout import write_files
from gateway.review.render import render_json, render_markdown
from gateway.review.sides import load_side

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MAP = REPO.parent / "shared" / "data" / "litellm_model_prices.json"
TARGET_S = 2.0


def newer_map(data: dict[str, Any], seed: int = 42, raised: int = 300, removed: int = 50,
              added: int = 50) -> dict[str, Any]:
    """A plausible next release of the map: some prices up 10 %, some models gone or new."""
    rng = random.Random(seed)
    new = copy.deepcopy(data)
    priced = sorted(k for k, v in new.items() if isinstance(v, dict)
                    and isinstance(v.get("input_cost_per_token"), int | float))
    for key in rng.sample(priced, raised):
        new[key]["input_cost_per_token"] = new[key]["input_cost_per_token"] * 1.1
    for key in rng.sample(sorted(k for k in new if k != "sample_spec"), removed):
        del new[key]
    for i, key in enumerate(rng.sample(priced, added)):
        new[f"{key}-bench-{i}"] = copy.deepcopy(data[key])
    return new


def compiled_import(data: dict[str, Any], root: Path) -> dict[str, Any]:
    write_files(import_litellm(data, with_models=True).files, root)
    result = build(root)
    if result.snapshot is None:
        sys.exit("import does not compile:\n" + "\n".join(d.text() for d in result.diagnostics))
    return result.snapshot


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best_of(repeat: int, job) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.map.is_file():
        sys.exit(f"{args.map} not found: pass the LiteLLM price map with --map PATH")
    data = json.loads(args.map.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        old = compiled_import(data, Path(tmp) / "old")
        new = compiled_import(newer_map(data), Path(tmp) / "new")
        write_snapshot(old, Path(tmp) / "old.json")
        write_snapshot(new, Path(tmp) / "new.json")
        review_s, review = best_of(args.repeat, lambda: review_snapshots(old, new))
        render_s, _ = best_of(args.repeat, lambda: (render_markdown(review), render_json(review)))
        files_s, _ = best_of(args.repeat, lambda: render_markdown(review_snapshots(
            load_side(str(Path(tmp) / "old.json")).snapshot,
            load_side(str(Path(tmp) / "new.json")).snapshot)))
    total = review_s + render_s
    counts = review.counts()
    print(f"models: {len(old['models'])} -> {len(new['models'])}, channels: "
          f"{len(old['channels'])} -> {len(new['channels'])}")
    print("findings: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"review (diff + classify + routing): {review_s:.3f} s")
    print(f"render (markdown + json):           {render_s:.3f} s")
    print(f"total: {total:.3f} s (best of {args.repeat}; target < {TARGET_S:.0f} s: "
          f"{'OK' if total < TARGET_S else 'MISSED'})")
    print(f"from two snapshot files (read, verify digests, review, markdown): {files_s:.3f} s")
    print(f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python "
          f"{platform.python_version()}")
    return 0 if total < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
