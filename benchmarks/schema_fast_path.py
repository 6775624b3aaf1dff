"""Time the schema fast path (the yes/no check on every document) on a catalog at scale.

    python benchmarks/catalog_scale.py --keep /tmp/big --runs 1   # once, to make the catalog
    python benchmarks/schema_fast_path.py /tmp/big [--runs 5]

Compares jsonschema-rs (draft 2020-12, what validate uses) with the draft-07 code that
fastjsonschema generates from the same schemas (the previous fast path; only if it is
installed), in one process, alternating, median of the runs. Prints the machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.catalog.load import load_catalog  # noqa: E402
from gateway.catalog.schema import _bundled, fast_check  # noqa: E402


def draft07_checks() -> dict[str, Callable[[Any], bool]] | None:
    try:
        import fastjsonschema
    except ImportError:
        return None

    def compiled(schema: dict[str, Any]) -> Callable[[Any], bool]:
        validate = fastjsonschema.compile(
            {**schema, "$schema": "http://json-schema.org/draft-07/schema#"}, use_default=False
        )

        def check(data: Any) -> bool:
            try:
                validate(data)
            except fastjsonschema.JsonSchemaException:
                return False
            return True

        return check

    return {kind: compiled(schema) for kind, schema in _bundled().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    docs, _ = load_catalog(args.catalog)
    docs = [d for d in docs if d.kind in _bundled()]
    started = time.perf_counter()
    candidates: dict[str, dict[str, Callable[[Any], bool]]] = {
        "jsonschema-rs (2020-12)": {k: fast_check(s) for k, s in _bundled().items()}
    }
    builds = {"jsonschema-rs (2020-12)": time.perf_counter() - started}
    started = time.perf_counter()
    old = draft07_checks()
    if old is not None:
        candidates["fastjsonschema (draft-07)"] = old
        builds["fastjsonschema (draft-07)"] = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.runs):
        for name, checks in candidates.items():
            gc.collect()
            started = time.perf_counter()
            valid = sum(1 for d in docs if checks[d.kind](d.data))
            times[name].append(time.perf_counter() - started)
            assert valid == len(docs), f"{name} rejected {len(docs) - valid} valid documents"
    print(f"{len(docs)} documents, median of {args.runs} runs\n")
    print("| fast path | build validators s | check every document s |")
    print("|---|---|---|")
    for name, runs in times.items():
        print(f"| {name} | {builds[name]:.3f} | {statistics.median(runs):.3f} |")
    print(
        f"\nmachine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
