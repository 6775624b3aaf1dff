"""Profile one benchmark target under wrk load with py-spy and say which functions cost time.

    python3 -m benchmarks.proxy.profile --target modelyard --mode plain --concurrency 64

Starts nginx and the target as the benchmark does, loads it with wrk while py-spy samples the
server process, and prints the functions with the most samples: by own time (where the CPU
is) and by inclusive time (what a call below them costs), the latter optionally limited to
frames whose file path contains `--focus` (e.g. gateway/proxy). The raw collapsed stacks are
kept in `--out` for a flame graph.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.proxy import bench_catalog, load, procs
from benchmarks.proxy.targets import (
    MODES,
    REQUEST_SHAPES,
    TARGETS,
    request_body,
    smoke_check,
    start_target,
)
from benchmarks.proxy.upstream import STREAM_SHAPES

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


REPO_ROOT = Path(__file__).resolve().parents[2]


def _where(frame: str) -> str:
    """`function (file:line)` -> `file:function`, the file cut to its package-relative path."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", f"{REPO_ROOT}/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{m['func']}"


def summarize(collapsed: str, *, focus: str | None, top: int, cpu_us: float | None = None) -> str:
    """Own and inclusive sample shares per function from py-spy's collapsed stacks, and
    what that share is in CPU microseconds per request when `cpu_us` (per request) is known."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = other_threads = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if "Thread._bootstrap" in stack:  # first frame, or after libc's with --native
            # Not the event loop: threads such as the file watcher's, mostly blocked in native
            # code that non-blocking sampling cannot tell from running. Counted apart.
            other_threads += int(count)
            continue
        frames = [_where(f) for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for where in set(frames):
            if focus is None or focus in where:
                inclusive[where] += n
    if not total:
        return "no samples"

    def row(where: str, n: int) -> str:
        per_request = f"{cpu_us * n / total:7.1f} us/req  " if cpu_us else ""
        return f"  {100 * n / total:5.1f}%  {per_request}{where}"

    out = [
        f"{total} samples of the event loop thread ({other_threads} in other threads, left out)",
        "",
        "own time:",
    ]
    out += [row(w, n) for w, n in own.most_common(top)]
    out += ["", f"inclusive time{f' (frames in {focus})' if focus else ''}:"]
    out += [row(w, n) for w, n in inclusive.most_common(top)]
    return "\n".join(out)


def _py_spy() -> str:
    if shutil.which("py-spy") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return shutil.which("py-spy") or "py-spy"


def profile(args: argparse.Namespace, work: Path) -> str:
    """Load the target with wrk while py-spy records it; return the summary."""
    procs.ensure_tools()
    spy = _py_spy()
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(procs.nginx_upstream(work, args.stream_shape))
        endpoint = stack.enter_context(start_target(args.target, work, root))
        url = endpoint.urls[args.mode]
        smoke_check(url, args.mode, args.shape)
        script = load.write_script(
            work / "load.lua", request_body(args.mode, args.shape), bench_catalog.CLIENT_KEY
        )
        load.run_wrk(url, script, connections=args.concurrency, seconds=2)
        raw = args.out / f"{args.target}-{args.mode}-c{args.concurrency}.txt"
        # Non-blocking sampling does not pause the server, so it barely changes what it
        # measures. --native (the compiled request path's C functions among the frames)
        # pauses it at each sample: its shares hold, its CPU per request is inflated.
        record = subprocess.Popen(
            [
                spy,
                "record",
                "--native" if args.native else "--nonblocking",
                "--format",
                "raw",
                "--rate",
                str(args.rate),
                "--duration",
                str(args.seconds),
                "--pid",
                str(endpoint.pid),
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        before = procs.cpu_s(endpoint.pid)
        point = load.run_wrk(url, script, connections=args.concurrency, seconds=args.seconds + 1)
        cpu_us = 1e6 * (procs.cpu_s(endpoint.pid) - before) / max(1, point.requests)
        _, err = record.communicate(timeout=args.seconds + 30)
        if record.returncode:
            raise RuntimeError(f"py-spy failed: {err.decode().strip()[-400:]}")
    head = (
        f"{args.target} {args.mode} concurrency {args.concurrency}: {point.rps:,.0f} req/s, "
        f"p50 {point.p50_ms:.2f} ms, server CPU {cpu_us:.0f} us/req (under sampling); "
        f"stacks in {raw}"
    )
    return head + "\n" + summarize(raw.read_text(), focus=args.focus, top=args.top, cpu_us=cpu_us)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--target", choices=[t for t in TARGETS if t != "direct"], default="modelyard"
    )
    parser.add_argument("--mode", choices=MODES, default="plain")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--shape", choices=REQUEST_SHAPES, default="current")
    parser.add_argument("--stream-shape", choices=STREAM_SHAPES, default="current")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--focus", help="inclusive time only for files containing this")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--native", action="store_true", help="C frames too (the compiled modules' functions)"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelyard-profile-") as tmp:
        print(profile(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
