"""Time `modelyard site` on a catalog at real scale (the one benchmarks/catalog_scale.py
generates from LiteLLM's price map: about 4,000 models, three channels each).

    python benchmarks/site_scale.py [--prices PATH] [--runs 3] [--keep DIR]

Each run is a fresh process, as `modelyard site` is: compile the catalog, then write the
site; and, separately, write the site from the compiled snapshot file (what a CI job that
already compiled does). Prints a Markdown table, the site's size and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.catalog_scale import DEFAULT_PRICES, generate, machine  # noqa: E402

TARGET_S = 10.0


def measure(catalog: Path, snapshot: Path, out: Path) -> dict[str, float | int]:
    """In this (fresh) process: compile, site from the compiled snapshot, site from the file."""
    from gateway.catalog.compile import build, write_snapshot
    from gateway.catalog.snapshot import Snapshot
    from gateway.site import build_site

    marks = [(time.perf_counter(), time.process_time())]
    result = build(catalog)
    assert result.snapshot is not None, "the generated catalog does not compile"
    marks.append((time.perf_counter(), time.process_time()))
    report = build_site(Snapshot.from_dict(result.snapshot), out / "from-catalog")
    marks.append((time.perf_counter(), time.process_time()))
    write_snapshot(result.snapshot, snapshot)
    marks.append((time.perf_counter(), time.process_time()))
    build_site(Snapshot.from_bytes(snapshot.read_bytes()), out / "from-snapshot")
    marks.append((time.perf_counter(), time.process_time()))

    def span(a: int, b: int) -> list[float]:
        return [marks[b][0] - marks[a][0], marks[b][1] - marks[a][1]]

    index = (out / "from-catalog" / "index.html").stat().st_size
    return {
        "compile": span(0, 1),
        "site": span(1, 2),
        "catalog_total": span(0, 2),
        "snapshot_total": span(3, 4),
        "models": report.models,
        "pages": report.pages,
        "bytes": report.bytes,
        "index_bytes": index,
        "load": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes to time (median)")
    parser.add_argument("--keep", type=Path, help="keep the catalog and the site here")
    parser.add_argument("--measure", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    if not args.prices.is_file():
        print(f"price map not found: {args.prices}; pass --prices PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        generate(args.prices, root / "catalog")
        runs = [
            json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--measure",
                        str(root / "catalog"),
                        str(root / "snapshot.json"),
                        str(root / "site"),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(args.runs)
        ]
    first = runs[0]
    print(
        f"site: {first['models']} models, {first['pages']} pages, "
        f"{first['bytes'] / 1e6:.1f} MB (index.html {first['index_bytes'] / 1e6:.1f} MB)\n"
    )
    print(f"| step | wall s (median of {args.runs}) | CPU s (median) |\n|---|---|---|")
    for key, label in (
        ("compile", "compile the catalog"),
        ("site", "write the site"),
        ("catalog_total", "**`modelyard site CATALOG`** (both)"),
        ("snapshot_total", "**`modelyard site SNAPSHOT`**"),
    ):
        wall = statistics.median(r[key][0] for r in runs)
        cpu = statistics.median(r[key][1] for r in runs)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    worst = max(max(r["catalog_total"][0], r["snapshot_total"][0]) for r in runs)
    print(
        f"\nslowest run: {worst:.2f} s wall (target: under {TARGET_S:.0f} s); load average "
        f"{statistics.median(r['load'] for r in runs):.1f} during the runs"
    )
    print(f"machine: {machine()}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
