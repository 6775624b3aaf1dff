"""What the quota check costs a request: modelyard without a quota, with one counted in
process, and with one counted in Redis on loopback, on the proxy benchmark's upstream.

    python3 -m benchmarks.proxy.quota [--duration 5] [--rounds 3] [--modes plain,stream]
                                      [--slices 20] [--out FILE]

Installs nginx, wrk and redis-server when missing (apt, as root). The benchmark client's
consumer gets every kind of limit at once (requests and tokens per minute, in flight, daily
and monthly budgets), set high enough never to refuse, so each request pays for all five
checks and their settlement. Targets are measured in turns within each round; the figures
are medians over rounds of within-round differences (added p50 at concurrency 1) and
ratios (throughput at concurrency 16), so a slow spell of the machine falls on all three.
A second table drives the three in process (benchmarks/proxy/inprocess.py's way: ASGI
calls, canned upstream answers) and gives the CPU and the time per request of each,
steadier than the socket figures on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from benchmarks.proxy import bench_catalog, load, procs
from benchmarks.proxy.targets import (
    READY_TIMEOUT_S,
    REPO,
    env_with,
    request_body,
    serve_command,
    smoke_check,
)

TARGETS = ("no-quota", "quota-embedded", "quota-redis")
QUOTA = {
    "requests_per_minute": 10**9,
    "tokens_per_minute": 10**12,
    "concurrent_requests": 100_000,
    "budget_per_day": "1000000",
    "budget_per_month": "10000000",
}


def write_catalog(directory: Path, nginx_root: str, *, quota: bool) -> Path:
    docs: list[dict[str, Any]] = bench_catalog.documents(nginx_root)
    if quota:
        for doc in docs:
            if doc["kind"] == "Consumer":
                doc["quota"] = dict(QUOTA)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "catalog.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return directory


@contextlib.contextmanager
def redis_server(work: Path) -> Iterator[str]:
    port = procs.free_port()
    cmd = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with procs.running(cmd, log=work / "redis.log") as proc:
        procs.wait_port(port, timeout_s=10, proc=proc)
        yield f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def start(target: str, work: Path, nginx_root: str, redis_url: str) -> Iterator[str]:
    catalog = write_catalog(work / target, nginx_root, quota=target != "no-quota")
    port = procs.free_port()
    cmd = serve_command(catalog, port)
    if target == "quota-redis":
        cmd += ["--state", redis_url]
    env = env_with({bench_catalog.UPSTREAM_KEY_ENV: bench_catalog.UPSTREAM_KEY})
    with procs.running(cmd, log=work / f"{target}.log", env=env, cwd=REPO) as proc:
        procs.wait_http(f"http://127.0.0.1:{port}/readyz", proc=proc, timeout_s=READY_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}/v1/chat/completions"


def ensure_redis() -> None:
    if shutil.which("redis-server") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True)


def run(args: argparse.Namespace) -> str:
    procs.ensure_tools()
    ensure_redis()
    points: dict[tuple[str, str, int, int], load.Point] = {}
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-quota-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        redis_url = stack.enter_context(redis_server(work))
        import asyncio

        in_process = inprocess_report(
            asyncio.run(inprocess_slices(redis_url, work, args.slices, args.count))
        )
        print(in_process, file=sys.stderr, flush=True)
        if args.inprocess_only:
            return in_process
        nginx_root = stack.enter_context(procs.nginx_upstream(work))
        urls = {t: stack.enter_context(start(t, work, nginx_root, redis_url)) for t in TARGETS}
        for mode in args.modes:
            for url in urls.values():
                smoke_check(url, mode)
            script = load.write_script(
                work / f"{mode}.lua", request_body(mode), bench_catalog.CLIENT_KEY
            )
            for round_ in range(args.rounds):
                for conc in (1, 16):
                    turn = round_ % len(TARGETS)
                    for target in TARGETS[turn:] + TARGETS[:turn]:
                        load.run_wrk(urls[target], script, connections=conc, seconds=args.warmup)
                        point = load.run_wrk(
                            urls[target], script, connections=conc, seconds=args.duration
                        )
                        if point.errors:
                            raise SystemExit(f"{target} {mode} c={conc}: {point.errors} errors")
                        points[(target, mode, conc, round_)] = point
                        print(
                            f"  round {round_ + 1} {target:14} {mode:6} c={conc:<2} "
                            f"{point.rps:8,.0f} req/s  p50 {point.p50_ms:6.3f} ms",
                            file=sys.stderr,
                            flush=True,
                        )
    return report(points, args) + "\n\nIn process:\n\n" + in_process


async def inprocess_slices(
    redis_url: str, work: Path, slices: int, count: int
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(CPU s, wall s) per request of each target and mode, in interleaved slices."""
    import os
    import time

    from benchmarks.proxy import inprocess
    from gateway.proxy.app import create_app

    os.environ[bench_catalog.UPSTREAM_KEY_ENV] = bench_catalog.UPSTREAM_KEY
    apps = {}
    for target in TARGETS:
        catalog = write_catalog(work / f"in-{target}", inprocess.ROOT, quota=target != "no-quota")
        app = create_app(
            catalog=catalog, watch=False, state=redis_url if target == "quota-redis" else None
        )
        app.http = app.router.http = inprocess.CannedUpstream()
        await app.startup()
        apps[target] = app
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for mode in ("plain", "stream"):
        for app in apps.values():
            await inprocess.drive(app, mode, count)  # warm-up
        for turn in range(slices):
            order = TARGETS[turn % 3 :] + TARGETS[: turn % 3]
            for target in order:
                started = time.perf_counter()
                cpu = await inprocess.drive(apps[target], mode, count)
                out.setdefault((target, mode), []).append(
                    (cpu, (time.perf_counter() - started) / count)
                )
    for app in apps.values():
        await app.shutdown()
    return out


def inprocess_report(spent: dict[tuple[str, str], list[tuple[float, float]]]) -> str:
    lines = [
        "| target | mode | CPU µs/request | added CPU µs | µs/request (wall) | added µs (wall) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (target, mode), values in spent.items():
        base = spent[("no-quota", mode)]
        cpu = statistics.median(v[0] for v in values) * 1e6
        wall = statistics.median(v[1] for v in values) * 1e6
        added_cpu = statistics.median(a[0] - b[0] for a, b in zip(values, base, strict=True))
        added_wall = statistics.median(a[1] - b[1] for a, b in zip(values, base, strict=True))
        lines.append(
            f"| {target} | {mode} | {cpu:.1f} | {added_cpu * 1e6:+.1f} | {wall:.1f} | "
            f"{added_wall * 1e6:+.1f} |"
        )
    return "\n".join(lines)


def report(points: dict[tuple[str, str, int, int], load.Point], args: argparse.Namespace) -> str:
    lines = [
        "| target | mode | p50 at c=1 (ms) | added p50 (ms) | req/s at c=16 | share of no-quota |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for mode in args.modes:
        for target in TARGETS:
            rounds = range(args.rounds)
            p50 = statistics.median(points[(target, mode, 1, r)].p50_ms for r in rounds)
            rps = statistics.median(points[(target, mode, 16, r)].rps for r in rounds)
            added = statistics.median(
                points[(target, mode, 1, r)].p50_ms - points[("no-quota", mode, 1, r)].p50_ms
                for r in rounds
            )
            share = statistics.median(
                points[(target, mode, 16, r)].rps / points[("no-quota", mode, 16, r)].rps
                for r in rounds
            )
            lines.append(
                f"| {target} | {mode} | {p50:.3f} | {added:+.3f} | {rps:,.0f} | "
                f"{share * 100:.1f}% |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per point")
    parser.add_argument("--warmup", type=float, default=1, help="seconds before each point")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="plain,stream")
    parser.add_argument("--slices", type=int, default=20, help="in-process slices per target")
    parser.add_argument("--count", type=int, default=300, help="requests per in-process slice")
    parser.add_argument("--inprocess-only", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.modes = args.modes.split(",")
    return procs.report_main(0, args.out, lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
