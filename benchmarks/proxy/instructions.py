"""Instructions per request of one benchmark target, counted by valgrind: no noise.

    python3 -m benchmarks.proxy.instructions --target modelyard --mode plain [--top 30]

The target runs under callgrind with counting off; once a warm-up load has passed, counting
is switched on for a timed wrk load (`--concurrency` connections) and off again, and the
instructions the server executed (user space, every thread) are divided by the requests
answered. The same binary, inputs and load give the same count to within about 1%
whatever else the machine does (what varies is work driven by the clock, below), where the
socket benchmark's CPU per request swings by 10%: use it to tell a change of a few
percent, and the socket benchmark for what it is worth in time. Under valgrind the server
runs some 50 times slower, so time-driven work (a request older than the disconnect
watch's start, the accounting drain's batch size) weighs a little differently than at full
speed. `--top` lists the functions with the most instructions of their own per request
(C functions: the compiled request path, CPython's, the libraries'; Python code shows as
the interpreter's).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.proxy import bench_catalog, load, procs
from benchmarks.proxy.targets import REQUEST_SHAPES, TARGETS, request_body, start_target
from benchmarks.proxy.upstream import STREAM_SHAPES

#: valgrind starts the server many times slower than it runs alone.
READY_TIMEOUT_S = 600.0
WARMUP_S = 15.0


def _callgrind(pid: int, flag: str) -> None:
    """Tell the callgrind running `pid` to count (`--instr=on`), stop, or `--dump`."""
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def count(args: argparse.Namespace, work: Path) -> tuple[dict[str, int], int, Path]:
    """The counted load's events (`Ir`, instructions; with `--cache-sim`, the cache misses
    too), the requests it answered, and callgrind's output file."""
    out = work / "callgrind.out"
    under = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    if args.cache_sim:
        under.append("--cache-sim=yes")
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(procs.nginx_upstream(work, args.stream_shape))
        endpoint = stack.enter_context(
            start_target(args.target, work, root, under=under, ready_timeout_s=READY_TIMEOUT_S)
        )
        assert endpoint.pid is not None  # a server the benchmark started
        url = endpoint.urls[args.mode]
        body = request_body(args.mode, args.shape)
        script = load.write_script(work / "load.lua", body, bench_catalog.CLIENT_KEY)
        load.run_wrk(url, script, connections=args.concurrency, seconds=WARMUP_S)
        _callgrind(endpoint.pid, "--instr=on")
        point = load.run_wrk(url, script, connections=args.concurrency, seconds=args.seconds)
        _callgrind(endpoint.pid, "--instr=off")
        _callgrind(endpoint.pid, "--dump")
    dump = max(work.glob("callgrind.out.*"), key=lambda p: p.stat().st_mtime)  # `--dump`'s
    text = dump.read_text(errors="replace")
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    totals = re.search(r"^totals: (.+)$", text, re.MULTILINE)
    if events is None or totals is None or not point.requests:
        raise RuntimeError(f"no instruction count in {dump} or no requests answered")
    names, values = events[1].split(), map(int, totals[1].split())
    return dict(zip(names, values, strict=True)), point.requests, dump


def top_functions(dump: Path, requests: int, top: int, event: str = "Ir") -> list[str]:
    """The functions with the most of `event` (instructions, or a cache's misses) of their
    own, per request."""
    show = [f"--show={event}", f"--sort={event}"]
    out = subprocess.run(
        ["callgrind_annotate", "--auto=no", *show, f"--threshold={100 - 1e-3}", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            name = re.sub(r" \[.*\]$", "", m[2].strip())
            rows.append(f"{int(m[1].replace(',', '')) / requests:10,.0f}  {name[-110:]}")
    return rows[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=TARGETS, default="modelyard")
    parser.add_argument("--mode", choices=("plain", "stream"), default="plain")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="the counted load")
    parser.add_argument("--shape", choices=REQUEST_SHAPES, default="current")
    parser.add_argument("--stream-shape", choices=STREAM_SHAPES, default="current")
    parser.add_argument("--top", type=int, default=0, help="list the costliest functions")
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="simulate the caches too: misses per request of the first-level instruction "
        "and data caches (I1, D1) and the last level (LL), what counting instructions does "
        "not see of the code's and the data's size (slower still)",
    )
    parser.add_argument(
        "--keep", type=Path, help="copy callgrind's output here (for callgrind_annotate)"
    )
    args = parser.parse_args()
    procs.ensure_tools({"valgrind": "valgrind", "callgrind_control": "valgrind"})
    with tempfile.TemporaryDirectory(prefix="modelyard-instr-") as tmp:
        events, requests, dump = count(args, Path(tmp))
        print(
            f"{args.target} {args.mode}, {args.shape} / {args.stream_shape}, concurrency "
            f"{args.concurrency}: {events['Ir'] / requests:,.0f} instructions per request "
            f"({requests:,} requests counted)"
        )
        if args.cache_sim:
            misses = ("I1mr", "ILmr", "D1mr", "DLmr", "D1mw", "DLmw")
            print(", ".join(f"{e} {events[e] / requests:,.0f}" for e in misses if e in events))
            if args.top:
                print("The most first-level instruction cache misses (I1mr) per request:")
                print("\n".join(top_functions(dump, requests, args.top, "I1mr")))
        if args.keep:
            shutil.copy(dump, args.keep)
        if args.top:
            print("\n".join(top_functions(dump, requests, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
