"""Benchmark the proxy against a static upstream: direct, bare pass-throughs and modelyard.

    python3 benchmarks/proxy_bench.py [--duration 8] [--warmup 1] [--concurrency 1,16,64]
                                      [--only direct,bare-aiohttp,bare-httpx,modelyard]
                                      [--modes plain,stream,messages-stream] [--rounds 1]
                                      [--start-runs 3]
                                      [--nice 0] [--out FILE]

Installs nginx and wrk when missing (apt, as root), serves canned OpenAI answers from nginx
on 127.0.0.1, sends the same chat requests (plain and streamed) with wrk straight to nginx,
through two bare starlette pass-throughs (aiohttp and httpx clients) and through
`modelyard serve` with one worker (which also serves the stream to an Anthropic Messages
client, translated: mode messages-stream), then measures modelyard's time to ready and memory.
`--only …,litellm` adds LiteLLM's proxy (installed into a virtualenv of its own on first use).
Prints one Markdown report; every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.proxy import bench_catalog, litellm_target, load, procs, report  # noqa: E402
from benchmarks.proxy.targets import (  # noqa: E402
    DEFAULT_TARGETS,
    MODES,
    READY_TIMEOUT_S,
    REQUEST_SHAPES,
    TARGETS,
    Endpoint,
    compile_command,
    env_with,
    request_body,
    serve_command,
    smoke_check,
    start_target,
    uvicorn_impl,
)
from benchmarks.proxy.upstream import STREAM_SHAPES  # noqa: E402


def measure(
    endpoints: dict[str, Endpoint], args: argparse.Namespace, work: Path, notes: list[str]
) -> tuple[dict[report.Key, load.Point], list[report.Round]]:
    """Measure every mode, concurrency and target, targets interleaved point by point.

    Interleaving puts every target under the same background load, and each round starts
    with the next target, so none is always measured first; with several rounds each
    point keeps its best round (the one least disturbed by the rest of the machine), and
    every round is kept too, for ratios taken within a round.
    """
    points: dict[report.Key, load.Point] = {}
    rounds: list[report.Round] = []
    for round_ in range(args.rounds):
        rounds.append({})
        for mode in args.modes:
            script = load.write_script(
                work / f"{mode}.lua", request_body(mode, args.shape), bench_catalog.CLIENT_KEY
            )
            for conc in args.concurrency:
                targets = [t for t in args.only if t in endpoints and mode in endpoints[t].urls]
                turn = round_ % len(targets) if targets else 0
                for target in targets[turn:] + targets[:turn]:  # each round starts elsewhere
                    url = endpoints[target].urls[mode]
                    try:
                        point = _measure_point(
                            url, script, conc, args, warm=round_ == 0, pid=endpoints[target].pid
                        )
                    except RuntimeError as err:
                        notes.append(f"{target}: stopped measuring: {err}")
                        del endpoints[target]
                        continue
                    points[(target, mode, conc)] = _better(points.get((target, mode, conc)), point)
                    rounds[-1][(target, mode, conc)] = point
                    print(
                        f"  round {round_ + 1} {target:13} {mode:6} c={conc:<3} "
                        f"{point.rps:8,.0f} req/s  p50 {point.p50_ms:6.2f} ms  "
                        f"p99 {point.p99_ms:6.2f} ms  cpu/req {point.cpu_us or 0:5.0f} us  "
                        f"errors {point.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    return {k: points[k] for k in sorted(points, key=_order(args))}, rounds


def _better(best: load.Point | None, point: load.Point) -> load.Point:
    """The round with the highest throughput, carrying the least CPU per request of all
    rounds: both are what the server does when the rest of the machine disturbs it least."""
    if best is None:
        return point
    cpu = min((c for c in (best.cpu_us, point.cpu_us) if c is not None), default=None)
    return replace(point if point.rps > best.rps else best, cpu_us=cpu)


def _order(args: argparse.Namespace):
    return lambda k: (args.only.index(k[0]), args.modes.index(k[1]), k[2])


def _measure_point(
    url: str, script: Path, conc: int, args: argparse.Namespace, *, warm: bool, pid: int | None
) -> load.Point:
    # The first warm-up of a point also opens the server's upstream connections.
    load.run_wrk(url, script, connections=conc, seconds=args.warmup * (2 if warm else 1))
    before = procs.cpu_s(pid) if pid else 0.0
    point = load.run_wrk(url, script, connections=conc, seconds=args.duration)
    if not pid or not point.requests:
        return point
    # CPU per request depends far less than req/s on how busy the rest of the machine is.
    return replace(point, cpu_us=1e6 * (procs.cpu_s(pid) - before) / point.requests)


def measure_startup(source: Path, label: str, work: Path, runs: int) -> report.Startup:
    """Start modelyard `runs` times on `source`; time each start to a 200 from /readyz."""
    times, rss = [], 0.0
    env = env_with({bench_catalog.UPSTREAM_KEY_ENV: bench_catalog.UPSTREAM_KEY})
    for i in range(runs):
        port = procs.free_port()
        with procs.running(
            serve_command(source, port), log=work / f"start-{i}.log", env=env, cwd=REPO
        ) as proc:
            times.append(
                procs.wait_http(
                    f"http://127.0.0.1:{port}/readyz",
                    proc=proc,
                    timeout_s=READY_TIMEOUT_S,
                    interval_s=0.01,
                )
            )
            time.sleep(0.5)  # let start-up work scheduled after ready (imports, GC) settle
            rss = max(rss, procs.rss_mb(proc.pid))
    return report.Startup(label, times, rss)


def log_tail(log: Path, lines: int = 3) -> str:
    """The last lines a failed server wrote, to say why in the report."""
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "" if not tail else " (log: " + " / ".join(t.strip() for t in tail) + ")"


def tool_versions() -> list[str]:
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    loop, http = uvicorn_impl()
    return [
        f"{nginx.replace('nginx version: ', '')} (1 worker) as the upstream; "
        f"{' '.join(wrk.split()[:2])} (1 thread) as the load generator",
        f"servers: one uvicorn worker each, loop {loop}, http {http}; bare pass-throughs "
        "are starlette apps forwarding with an aiohttp or httpx client (pool of 128)",
        "nginx, wrk and the server under test share the machine's CPUs (no pinning)",
    ]


def start_all(
    args: argparse.Namespace,
    work: Path,
    nginx_root: str,
    stack: contextlib.ExitStack,
    notes: list[str],
) -> dict[str, Endpoint]:
    """Start every target and check each answers both modes; note the ones that do not."""
    endpoints = {}
    for target in args.only:
        try:
            endpoint = stack.enter_context(start_target(target, work, nginx_root))
            for mode in args.modes:
                if mode in endpoint.urls:
                    smoke_check(endpoint.urls[mode], mode, args.shape)
            endpoints[target] = endpoint
        except (RuntimeError, TimeoutError) as err:
            err = f"{err}{log_tail(work / f'{target}.log')}"
            notes.append(f"{target}: not measured: {err}")
            print(f"{target}: not measured: {err}", file=sys.stderr, flush=True)
    return endpoints


def run(args: argparse.Namespace) -> str:
    procs.ensure_tools()
    startups: list[report.Startup] = []
    notes = tool_versions() + [
        f"{args.duration:g} s per point after a warm-up, best of {args.rounds} round(s) "
        "(req/s and latency of the fastest round, the least CPU per request of any round), "
        "targets interleaved point by point; same request body and headers for every target",
        f"request shape {args.shape} ({len(request_body('plain', args.shape)):,} bytes plain), "
        f"stream shape {args.stream_shape}",
    ]
    if args.nice:
        notes.append(f"benchmark processes at niceness {args.nice}")
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        root = stack.enter_context(procs.nginx_upstream(work, args.stream_shape))
        endpoints = start_all(args, work, root, stack, notes)
        points, rounds = measure(endpoints, args, work, notes)
        if "litellm" in endpoints:
            litellm = endpoints["litellm"]
            notes.append(litellm_target.note(litellm.ready_s, procs.rss_mb(litellm.pid or 0)))
        if "modelyard" in endpoints:
            mine = endpoints["modelyard"]
            startups.append(
                report.Startup(
                    "bench catalog, after the load", [mine.ready_s], procs.rss_mb(mine.pid)
                )
            )
        stack.close()  # stop every server before timing modelyard's starts
        if "modelyard" in args.only and args.start_runs:
            startups += measure_startups(work, args.start_runs, notes)
    return report.render(points, startups, notes, rounds)


def measure_startups(work: Path, runs: int, notes: list[str]) -> list[report.Startup]:
    """Time modelyard's starts on the bundled catalog: compiled in-process, and as the
    snapshot file that production serves (compiled beforehand)."""
    snapshot = work / "bundled-snapshot.json"
    subprocess.run(
        compile_command(REPO / "catalog", snapshot),
        cwd=REPO,
        env=env_with({}),
        capture_output=True,
        timeout=60,
        check=False,
    )
    sources = [
        (REPO / "catalog", "bundled catalog/, --catalog"),
        (snapshot, "bundled catalog/ compiled, --snapshot"),
    ]
    startups = []
    for source, label in sources:
        if not source.exists():
            notes.append(f"modelyard start ({label}): not measured: compile failed")
            continue
        try:
            startups.append(measure_startup(source, label, work, runs))
        except (RuntimeError, TimeoutError) as err:
            notes.append(
                f"modelyard start ({label}): not measured: {err}{log_tail(work / 'start-0.log')}"
            )
    return startups


def _csv(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per point")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of warm-up before each point"
    )
    parser.add_argument(
        "--concurrency",
        default=[1, 16, 64],
        type=lambda s: [int(c) for c in s.split(",")],
        help="open connections per point, comma separated",
    )
    parser.add_argument(
        "--only",
        default=list(DEFAULT_TARGETS),
        type=_csv(TARGETS),
        help="targets to measure, comma separated",
    )
    parser.add_argument("--modes", default=list(MODES), type=_csv(MODES))
    parser.add_argument(
        "--shape",
        default="current",
        choices=REQUEST_SHAPES,
        help="request body: the small first one, a ~1 KB multi-turn chat or "
        "a ~64 KB agent turn with 20 tools",
    )
    parser.add_argument(
        "--stream-shape",
        default="current",
        choices=STREAM_SHAPES,
        help="streamed answer: the 13-event one or OpenAI's chunk shape, 200 events",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every point this many times and keep the best",
    )
    parser.add_argument(
        "--start-runs", type=int, default=3, help="modelyard starts on catalog/ to time (0: skip)"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the benchmark and every process it starts at this niceness "
        "(negative, as root, to be less disturbed by other work on the machine)",
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 120 or not all(1 <= c <= 1024 for c in args.concurrency):
        parser.error("duration must be 1-120 s and concurrency 1-1024")
    if not 1 <= args.rounds <= 15 or not 0 <= args.start_runs <= 10:
        parser.error("rounds must be 1-15 and start runs 0-10")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return procs.report_main(args.nice, args.out, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
