"""What the usage log and metrics add to the proxy's p50, measured side by side.

    python3 benchmarks/accounting_bench.py [--slices 20] [--duration 3] [--concurrency 1,16,64]
                                           [--modes plain,stream] [--control] [--no-pin]
                                           [--nice 0] [--out FILE]

Two `modelyard serve` processes (one worker each) on the benchmark catalog, behind the same
nginx upstream as `proxy_bench.py`: one as deployed, with its usage log written to a file
and metrics on, and one with neither. Each slice loads both at the same moment, one wrk
each with the same concurrency and duration, so whatever else the machine is doing falls
on both alike. Measured one after the other, the same server's p50 moves by ±30% from one
round to the next here, which hides an effect of a few percent; side by side, the two share
the CPUs fairly, and the one with more work per request answers later by that much.

The servers share one CPU and nginx and wrk keep to the others (unless `--no-pin`): on this
VM two identical servers on different CPUs at the same moment differ by up to 2x in CPU
time per request, which would swamp what is measured; on one CPU they see the same one.

The overhead at a point is the median over slices of (p50 with accounting) / (p50 without)
− 1, with the middle half of the slices' ratios to show the spread. `--control` runs the
deployed server against a twin of itself: what the instrument reads when there is nothing
to find. Prints one Markdown report; every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.proxy import bench_catalog, load, procs, report  # noqa: E402
from benchmarks.proxy.targets import (  # noqa: E402
    MODES,
    Endpoint,
    request_body,
    smoke_check,
    start_target,
)

#: What the usage log and metrics may add to modelyard's p50 (issue 7).
LIMIT = report.ACCOUNTING_SHARE
#: The CPU both servers share when pinned (nginx and wrk get the rest).
SERVER_CPU = (os.cpu_count() or 1) - 1


@dataclass(frozen=True, slots=True)
class Pair:
    """One slice of one point: both servers loaded at once."""

    mine: load.Point  # with accounting
    other: load.Point  # without (or the twin, under --control)


def load_both(
    urls: tuple[str, str],
    pids: tuple[int | None, int | None],
    script: Path,
    conc: int,
    seconds: float,
    pool: concurrent.futures.Executor,
    *,
    second_first: bool = False,
) -> tuple[load.Point, load.Point]:
    """Run one wrk against each URL at the same time; each point carries its server's CPU.
    `second_first` starts the second server's wrk first (alternated, so neither is always
    ahead by the moment it takes to start a process)."""
    before = [procs.cpu_s(pid) if pid else 0.0 for pid in pids]
    order = (1, 0) if second_first else (0, 1)
    runs = {
        i: pool.submit(load.run_wrk, urls[i], script, connections=conc, seconds=seconds)
        for i in order
    }
    points = [runs[0].result(), runs[1].result()]
    out = []
    for point, pid, start in zip(points, pids, before, strict=True):
        if pid and point.requests:
            cpu = 1e6 * (procs.cpu_s(pid) - start) / point.requests
            point = load.Point(
                point.requests,
                point.rps,
                point.p50_ms,
                point.p90_ms,
                point.p99_ms,
                point.errors,
                cpu,
            )
        out.append(point)
    return out[0], out[1]


def measure(
    endpoints: tuple[Endpoint, Endpoint], args: argparse.Namespace, work: Path, slices: int
) -> dict[tuple[str, int], list[Pair]]:
    """Every mode and concurrency, `slices` slices each, the points interleaved so a long
    disturbance spreads over all of them."""
    pairs: dict[tuple[str, int], list[Pair]] = {}
    scripts = {
        mode: load.write_script(work / f"{mode}.lua", request_body(mode), bench_catalog.CLIENT_KEY)
        for mode in args.modes
    }
    pids = (endpoints[0].pid, endpoints[1].pid)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for mode in args.modes:  # warm-up: opens the servers' upstream connections
            urls = (endpoints[0].urls[mode], endpoints[1].urls[mode])
            load_both(urls, pids, scripts[mode], max(args.concurrency), 2, pool)
        for slice_ in range(slices):
            for mode in args.modes:
                urls = (endpoints[0].urls[mode], endpoints[1].urls[mode])
                for conc in args.concurrency:
                    mine, other = load_both(
                        urls,
                        pids,
                        scripts[mode],
                        conc,
                        args.duration,
                        pool,
                        second_first=slice_ % 2 == 1,
                    )
                    pairs.setdefault((mode, conc), []).append(Pair(mine, other))
                    print(
                        f"  slice {slice_ + 1} {mode:6} c={conc:<3} p50 {mine.p50_ms:6.2f} / "
                        f"{other.p50_ms:6.2f} ms  req/s {mine.rps:6,.0f} / {other.rps:6,.0f}  "
                        f"cpu/req {mine.cpu_us or 0:4.0f} / {other.cpu_us or 0:4.0f} us  "
                        f"errors {mine.errors + other.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    return pairs


def _spread(ratios: list[float]) -> tuple[float, float, float]:
    """Median and the middle half (quartiles) of the ratios, each minus one."""
    if len(ratios) < 4:
        median = statistics.median(ratios)
        return median - 1, min(ratios) - 1, max(ratios) - 1
    low, median, high = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios) - 1, low - 1, high - 1


def render(pairs: dict[tuple[str, int], list[Pair]], args: argparse.Namespace) -> str:
    other = "a twin of itself (control)" if args.control else "no usage log or metrics"
    lines = [
        "## Accounting overhead, side by side",
        "",
        f"Machine: {report.machine()}",
        "",
        f"- modelyard with its usage log (to a file) and metrics, against {other}; one "
        "uvicorn worker each, loaded at the same time by one wrk each",
        "- both servers pinned to one CPU, nginx and wrk to the others"
        if args.pin
        else "- servers not pinned",
        f"- {args.slices} slices of {args.duration:g} s per point, points interleaved; "
        "the servers restarted halfway in the other order"
        + (f"; benchmark processes at niceness {args.nice}" if args.nice else ""),
        "",
        "| mode | conc. | p50 added (median) | middle half of slices | CPU/request added "
        "(median) | req/s with / without | errors |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    verdicts = []
    for (mode, conc), slices in pairs.items():
        p50 = _spread([p.mine.p50_ms / p.other.p50_ms for p in slices if p.other.p50_ms])
        cpus = [p.mine.cpu_us / p.other.cpu_us for p in slices if p.mine.cpu_us and p.other.cpu_us]
        cpu = f"{100 * (statistics.median(cpus) - 1):+.1f}%" if cpus else "–"
        rps = (
            statistics.median(p.mine.rps for p in slices),
            statistics.median(p.other.rps for p in slices),
        )
        errors = sum(p.mine.errors + p.other.errors for p in slices)
        lines.append(
            f"| {mode} | {conc} | {100 * p50[0]:+.1f}% | {100 * p50[1]:+.1f}% to "
            f"{100 * p50[2]:+.1f}% | {cpu} | {rps[0]:,.0f} / {rps[1]:,.0f} | {errors} |"
        )
        if not args.control:
            ok = p50[0] < LIMIT
            verdicts.append(
                f"- usage log + metrics, {mode}, concurrency {conc}: "
                f"{100 * p50[0]:+.1f}% p50 (target < {100 * LIMIT:.0f}%): "
                f"{'met' if ok else 'MISSED'}"
            )
    return "\n".join(lines + [""] + verdicts) + "\n"


def run(args: argparse.Namespace) -> str:
    procs.ensure_tools()
    if args.pin:  # this process first: nginx and wrk inherit the other CPUs
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - {SERVER_CPU})
    names = ("modelyard", "modelyard" if args.control else "modelyard-no-accounting")
    pairs: dict[tuple[str, int], list[Pair]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="modelyard-acct-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        root = stack.enter_context(procs.nginx_upstream(work))
        # Two halves, the servers started in one order and then the other, so whatever
        # favours the first (or second) started weighs on both sides alike.
        for half, first in enumerate((0, 1)):
            with contextlib.ExitStack() as servers:
                endpoints: dict[int, Endpoint] = {}
                for i in (first, 1 - first):  # a directory each: catalog, log, usage log
                    home = work / f"half-{half}-server-{i}"
                    home.mkdir()
                    endpoints[i] = servers.enter_context(start_target(names[i], home, root))
                    if args.pin:
                        assert endpoints[i].pid is not None
                        procs.pin(endpoints[i].pid, {SERVER_CPU})
                for endpoint in endpoints.values():
                    for mode in args.modes:
                        smoke_check(endpoint.urls[mode], mode)
                slices = args.slices // 2 + (args.slices % 2 if half == 0 else 0)
                for key, found in measure((endpoints[0], endpoints[1]), args, work, slices).items():
                    pairs.setdefault(key, []).extend(found)
    return render(pairs, args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=20, help="slices per point")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per slice")
    parser.add_argument(
        "--concurrency",
        default=[1, 16, 64],
        type=lambda s: [int(c) for c in s.split(",")],
        help="open connections per server, comma separated",
    )
    parser.add_argument(
        "--modes",
        default=list(MODES),
        type=lambda s: [m for m in s.split(",") if m in MODES] or list(MODES),
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="measure the deployed server against a twin of itself",
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="let the servers run on any CPU"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run every process at this niceness (negative needs root)",
    )
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("pinning needs two CPUs or more; use --no-pin")
    if (
        not 1 <= args.duration <= 60
        or not 2 <= args.slices <= 200
        or not all(1 <= c <= 512 for c in args.concurrency)
    ):
        parser.error("duration must be 1-60 s, slices 2-200 and concurrency 1-512")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return procs.report_main(args.nice, args.out, lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
