"""Memory soak: constant-rate load at 70% of measured capacity, healthy and with every upstream failing.

    python -m benchmarks.memory_soak [--duration 60] [--share 0.7]

Starts a fake upstream and `modelyard serve --snapshot FILE`, measures capacity with a
short closed-loop run, then holds `--share` of it for `--duration` seconds twice: with a
healthy upstream (10% of requests streamed), and with every channel failing (an upstream
answering 500 and one refusing connections; circuits open and half-open every second).
Every second it samples the proxy's RSS, open files (/proc/PID/fd) and TCP connections
(its socket inodes in /proc/net/tcp). It reports growth during each run and checks that
all three are back to the baseline (within tolerances) after the load stops. The proxy
exposes no count of asyncio tasks, so tasks are not sampled. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.proxy import procs
from benchmarks.soak_support import (
    Servers,
    Tally,
    catalog_documents,
    closed_loop,
    compile_snapshot,
    constant_rate,
    get_json,
    machine,
    open_fds,
    percentile,
    replace_atomically,
    servers,
    tcp_connections,
)

MODELS = ("chat", "stream", "flaky")


@dataclass(frozen=True)
class Sample:
    at: float
    rss_mb: float
    fds: int
    connections: int  # established TCP connections of the proxy (clients and upstreams)


def sample(pid: int, started: float) -> Sample:
    conns = tcp_connections(pid)
    return Sample(
        time.monotonic() - started, procs.rss_mb(pid), open_fds(pid), conns.get("established", 0)
    )


@dataclass
class Run:
    name: str
    rate: float
    baseline: Sample | None = None
    after: Sample | None = None
    idle_s: float = 0.0  # how long after the load `after` was taken
    samples: list[Sample] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)

    def peak(self, attr: str) -> float:
        return max(getattr(s, attr) for s in self.samples)


async def sampling(pid: int, run: Run, stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        run.samples.append(sample(pid, started))
        await asyncio.sleep(1)


async def load_run(s: Servers, run: Run, args: argparse.Namespace, expect_ok: bool) -> None:
    await asyncio.sleep(args.settle)
    run.baseline = sample(s.proxy_pid, time.monotonic())
    stop = asyncio.Event()
    sampler = asyncio.get_running_loop().create_task(sampling(s.proxy_pid, run, stop))
    await constant_rate(
        s.proxy_url,
        rate=run.rate,
        seconds=args.duration,
        concurrency=args.concurrency,
        stream_share=0.1,
        tally=run.tally,
        models=MODELS,
        expect_ok=expect_ok,
    )
    ended = time.monotonic()
    await asyncio.sleep(args.settle)
    stop.set()
    await sampler
    run.after = sample(s.proxy_pid, ended)
    # aiohttp closes pooled connections idle past its 15 s keep-alive when its cleanup runs,
    # every 15 s: one used at the load's end may stay up to about 31 s.
    while not _back(run, args) and time.monotonic() - ended < args.settle_max:
        await asyncio.sleep(1)
        run.after = sample(s.proxy_pid, ended)
    run.idle_s = time.monotonic() - ended


def _back(run: Run, args: argparse.Namespace) -> bool:
    """Open files and connections back to the run's baseline, within tolerance."""
    b, a = run.baseline, run.after
    assert a is not None and b is not None
    return a.fds - b.fds <= args.fd_tolerance and a.connections - b.connections <= args.fd_tolerance


async def wait_digest(url: str, digest: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = get_json(url, "/readyz")
        if ready and ready["digest"] == digest:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the proxy never served digest {digest[:12]}")


async def soak(
    s: Servers, snapshot: Path, failing: bytes, args: argparse.Namespace
) -> tuple[float, list[Run]]:
    await closed_loop(s.proxy_url, seconds=2, concurrency=4, model="chat")  # warm-up
    capacity = await closed_loop(
        s.proxy_url,
        seconds=args.capacity_seconds,
        concurrency=args.capacity_concurrency,
        model="chat",
    )
    healthy = Run("healthy upstream", capacity * args.share)
    await load_run(s, healthy, args, expect_ok=True)
    replace_atomically(snapshot, failing)
    await wait_digest(s.proxy_url, json.loads(failing)["digest"])
    broken = Run("every upstream failing", capacity * args.share)
    await load_run(s, broken, args, expect_ok=False)
    return capacity, [healthy, broken]


def checks(runs: list[Run], args: argparse.Namespace) -> list[tuple[str, bool]]:
    out = []
    for run in runs:
        b, a = run.baseline, run.after
        assert a is not None and b is not None  # set by load_run
        out += [
            (
                f"{run.name}: RSS back within {args.rss_tolerance:g} MB",
                a.rss_mb - b.rss_mb <= args.rss_tolerance,
            ),
            (
                f"{run.name}: open files back within {args.fd_tolerance}",
                a.fds - b.fds <= args.fd_tolerance,
            ),
            (
                f"{run.name}: connections back within {args.fd_tolerance}",
                a.connections - b.connections <= args.fd_tolerance,
            ),
        ]
    out.append(("healthy upstream: no failed request", not runs[0].tally.failures))
    out.append(
        (
            "every upstream failing: no 5xx other than 502/503/504, no broken connection",
            not runs[1].tally.failures
            and all(code in (502, 503, 504) for code in runs[1].tally.statuses),
        )
    )
    return out


def render(capacity: float, runs: list[Run], args: argparse.Namespace) -> str:
    lines = [
        f"machine: {machine()}",
        f"capacity: {capacity:.0f} req/s (closed loop, {args.capacity_concurrency} "
        f"clients, {args.capacity_seconds:g} s); load: {args.share:.0%} of it for "
        f"{args.duration:g} s per run, 10% streamed, samples every 1 s",
        "asyncio tasks: not sampled (the proxy exposes no task count)",
    ]
    for run in runs:
        t = run.tally
        plain = t.latencies["plain"]
        lines.append(
            f"{run.name}: {t.requests} requests at {run.rate:.0f} req/s, "
            f"statuses {dict(sorted(t.statuses.items()))}, {len(t.failures)} failed, "
            f"p50 {percentile(plain, 50) * 1000:.1f} ms, "
            f"p99 {percentile(plain, 99) * 1000:.1f} ms"
        )
        assert run.baseline is not None and run.after is not None
        for attr, unit in (("rss_mb", " MB"), ("fds", ""), ("connections", "")):
            b, a = getattr(run.baseline, attr), getattr(run.after, attr)
            lines.append(
                f"  {attr:<11} baseline {b:g}{unit}, peak {run.peak(attr):g}{unit}, "
                f"after {run.idle_s:.0f} s idle {a:g}{unit} ({a - b:+g})"
            )
        lines.append(
            "  RSS every 10 s: " + " ".join(f"{x.rss_mb:.1f}" for x in run.samples[::10]) + " MB"
        )
        lines += [f"  failure: {f}" for f in t.failures[:5]]
    lines += [f"[{'ok' if ok else 'FAIL'}] {name}" for name, ok in checks(runs, args)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds per run")
    parser.add_argument("--share", type=float, default=0.7, help="share of capacity to hold")
    parser.add_argument("--capacity-seconds", type=float, default=10)
    parser.add_argument("--capacity-concurrency", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight, max")
    parser.add_argument(
        "--settle",
        type=float,
        default=20,
        help="idle seconds around a run (past aiohttp's 15 s keep-alive)",
    )
    parser.add_argument(
        "--settle-max",
        type=float,
        default=35,
        help="idle seconds after a run at most, waiting for open files and connections "
        "(aiohttp closes idle pooled connections every 15 s: up to about 31 s)",
    )
    parser.add_argument("--rss-tolerance", type=float, default=10, help="MB")
    parser.add_argument("--fd-tolerance", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memory-soak-"))
    snapshot = work / "snapshot.json"
    failing: list[bytes] = []

    def first(upstream: str) -> bytes:
        failing.append(compile_snapshot(catalog_documents(upstream, 2, failing=True, cooldown_s=1)))
        return compile_snapshot(catalog_documents(upstream, 1))

    with servers(work, snapshot, first, stream_s=1.0) as s:
        capacity, runs = asyncio.run(soak(s, snapshot, failing[0], args))
    print(render(capacity, runs, args))
    print(f"logs: {work}")
    return 0 if all(ok for _, ok in checks(runs, args)) else 1


if __name__ == "__main__":
    sys.exit(main())
