"""Benchmark: the diff of two full imports of the LiteLLM price map (>= 4,000 models each),
with per-consumer impact for 50 consumers.

Imports the real map twice into temporary catalogs (all providers, --with-models, models
active), adds the same 50 consumers to both (scopes, orgs, data destination limits and
allow-lists varied, seeded), the second time with prices raised 10 % on a few hundred entries
and some models removed and added; compiles both, then times the review (diff,
classification, routing, per-consumer impact through the proxy's usable() and route planner)
and its rendering. A second pair times the worst case: every price raised and one consumer's
data destination limit tightened, so every model is planned for every consumer.

    python3 -m benchmarks.diff_scale [--map PATH] [--repeat 5]

The map ships with the litellm package as model_prices_and_context_window_backup.json; pass
its path with --map when ../shared/data/litellm_model_prices.json is not there.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from gateway.catalog.compile import build, write_snapshot
from gateway.review import review_snapshots
from gateway.review.importers.litellm import ImportResult, import_litellm
from gateway.review.importers.yamlout import write_files
from gateway.review.render import render_json, render_markdown
from gateway.review.sides import load_side

REPO = Path(__file__).resolve().parent.parent
#: ../shared/data from a checkout beside `shared`; one level more from a worktree under wt/.
DEFAULT_MAP = next(
    (
        p
        for p in (
            REPO.parent / "shared" / "data" / "litellm_model_prices.json",
            REPO.parent.parent / "shared" / "data" / "litellm_model_prices.json",
        )
        if p.is_file()
    ),
    REPO.parent / "shared" / "data" / "litellm_model_prices.json",
)
TARGET_S = 2.0


def newer_map(
    data: dict[str, Any], seed: int = 42, raised: int = 300, removed: int = 50, added: int = 50
) -> dict[str, Any]:
    """A plausible next release of the map: some prices up 10 %, some models gone or new."""
    rng = random.Random(seed)
    new = copy.deepcopy(data)
    priced = sorted(
        k
        for k, v in new.items()
        if isinstance(v, dict) and isinstance(v.get("input_cost_per_token"), int | float)
    )
    for key in rng.sample(priced, raised):
        new[key]["input_cost_per_token"] = new[key]["input_cost_per_token"] * 1.1
    for key in rng.sample(sorted(k for k in new if k != "sample_spec"), removed):
        del new[key]
    for i, key in enumerate(rng.sample(priced, added)):
        new[f"{key}-bench-{i}"] = copy.deepcopy(data[key])
    return new


CONSUMERS = 50
_LEVELS = ("protected", "inner", "mainland", "overseas")


def consumers(models: list[str], seed: int = 7, tightened: int | None = None) -> list[dict]:
    """50 consumers as an organisation might have them; `tightened` lowers one's limit."""
    rng = random.Random(seed)
    out = []
    for i in range(CONSUMERS):
        doc: dict[str, Any] = {
            "kind": "Consumer",
            "name": f"consumer-{i:02d}",
            "key_sha256": [hashlib.sha256(f"bench-key-{i}".encode()).hexdigest()],
            "owner": {"type": "person", "code": f"person-{i}"},
            "orgs": [f"org-{i % 5}"],
            "scopes": ["public", "internal"] if i % 4 == 0 else ["public"],
            "max_data_destination": _LEVELS[i % 4 if i != tightened else 0],
        }
        if i % 3 == 0:
            doc["models"] = sorted(rng.sample(models, 40))
        out.append(doc)
    return out


def compiled_import(
    result: ImportResult, root: Path, pool: list[str], tightened: int | None = None
) -> dict[str, Any]:
    """The import compiled with the 50 consumers; allow-lists drawn from `pool`."""
    write_files(result.files, root)
    (root / "consumers.yaml").write_text(
        yaml.safe_dump_all(consumers(pool, tightened=tightened), sort_keys=False)
    )
    result = build(root)
    if result.snapshot is None:
        sys.exit("import does not compile:\n" + "\n".join(d.text() for d in result.diagnostics))
    return result.snapshot


def every_price_raised(data: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(data)
    for entry in new.values():
        if isinstance(entry, dict) and isinstance(entry.get("input_cost_per_token"), int | float):
            entry["input_cost_per_token"] *= 1.1
    return new


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
        imports = [
            import_litellm(d, with_models=True, active=True)
            for d in (data, newer_map(data), every_price_raised(data))
        ]
        pool = sorted(set.intersection(*(set(i.models) for i in imports)))
        old = compiled_import(imports[0], Path(tmp) / "old", pool)
        new = compiled_import(imports[1], Path(tmp) / "new", pool)
        worst = compiled_import(imports[2], Path(tmp) / "worst", pool, tightened=1)
        write_snapshot(old, Path(tmp) / "old.json")
        write_snapshot(new, Path(tmp) / "new.json")
        review_s, review = best_of(args.repeat, lambda: review_snapshots(old, new))
        worst_s, worst_review = best_of(args.repeat, lambda: review_snapshots(old, worst))
        render_s, _ = best_of(args.repeat, lambda: (render_markdown(review), render_json(review)))
        files_s, _ = best_of(
            args.repeat,
            lambda: render_markdown(
                review_snapshots(
                    load_side(str(Path(tmp) / "old.json")).snapshot,
                    load_side(str(Path(tmp) / "new.json")).snapshot,
                )
            ),
        )
    total = review_s + render_s
    counts = review.counts()
    print(
        f"models: {len(old['models'])} -> {len(new['models'])}, channels: "
        f"{len(old['channels'])} -> {len(new['channels'])}"
    )
    print("findings: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(
        f"consumers: {len(old['consumers'])}; consumers with changed access or routes: "
        f"{len(review.impacts)}"
    )
    print(f"review (diff + classify + routing + impact): {review_s:.3f} s")
    print(f"render (markdown + json):           {render_s:.3f} s")
    print(
        f"total: {total:.3f} s (best of {args.repeat}; target < {TARGET_S:.0f} s: "
        f"{'OK' if total < TARGET_S else 'MISSED'})"
    )
    print(f"from two snapshot files (read, verify digests, review, markdown): {files_s:.3f} s")
    print(
        f"worst case (every price raised, one consumer's limit tightened): review "
        f"{worst_s:.3f} s, findings "
        + ", ".join(f"{k} {v}" for k, v in worst_review.counts().items())
    )
    print(
        f"machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()}"
    )
    return 0 if total < TARGET_S and worst_s < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
