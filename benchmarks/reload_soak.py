"""Reload soak: constant load with long streams while the snapshot file is replaced hundreds of times.

    python -m benchmarks.reload_soak [--duration 120] [--reloads 300] [--concurrency 64]

Starts a fake upstream (its own process) and `modelyard serve --snapshot FILE`, opens the
circuit of one channel (an upstream that answers 500), then runs constant-rate load (a share
of it long streams) in `--slices` pairs of slices: one while the snapshot is replaced
(valid versions and broken ones, renamed into place and written in place, half-written;
`--reloads` in all), one without reloads, with the same request mix, so background load on
a shared machine weighs on both alike. It checks: no failed request, p99 with reloads within
5% of without, the proxy's RSS back within 10 MB of the start after a settle period, and
the open circuit kept across every reload (the broken channel is not called again).
Loopback only; every process it starts is stopped at the end. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
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
    compile_snapshot,
    constant_rate,
    get_json,
    machine,
    percentile,
    replace_atomically,
    servers,
)

MODELS = ("chat", "stream", "flaky")
MODES = (
    "valid, renamed into place",
    "valid, half-written in place",
    "broken, renamed into place",
    "valid, written in place",
    "broken, written in place",
)


@dataclass
class Memory:
    start: float = 0.0
    peak: float = 0.0
    end: float = 0.0
    samples: list[float] = field(default_factory=list)


async def sample_rss(pid: int, memory: Memory, stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss = procs.rss_mb(pid)
        memory.samples.append(rss)
        memory.peak = max(memory.peak, rss)
        await asyncio.sleep(0.5)


async def reload_many(
    path: Path, versions: list[bytes], count: int, seconds: float, done: dict[str, int]
) -> None:
    """Replace the snapshot `count` times over `seconds`, cycling through MODES; end valid."""
    pause = seconds / max(count, 1)
    for i in range(count):
        await asyncio.sleep(pause)
        mode = MODES[i % len(MODES)]
        good = versions[i % len(versions)]
        if mode == "valid, renamed into place":
            replace_atomically(path, good)
        elif mode == "valid, half-written in place":
            with path.open("wb") as out:
                out.write(good[: len(good) // 2])
                out.flush()
                await asyncio.sleep(min(0.05, pause / 3))  # the watcher may read this half
                out.write(good[len(good) // 2 :])
        elif mode == "broken, renamed into place":
            replace_atomically(path, good[: len(good) * 2 // 3])
        elif mode == "valid, written in place":
            path.write_bytes(good)
        else:  # well-formed JSON whose digest does not match its content
            path.write_bytes(good.replace(b"soak version", b"soak versioN"))
        done[mode] = done.get(mode, 0) + 1
    await asyncio.sleep(pause)
    replace_atomically(path, versions[0])


async def wait_digest(url: str, digest: str, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = get_json(url, "/readyz")
        if ready and ready["digest"] == digest:
            return ready
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the proxy never served digest {digest[:12]}")


def digest_of_bytes(data: bytes) -> str:
    import json

    return json.loads(data)["digest"]


async def open_circuit(s: Servers) -> int:
    """Open the broken channel's circuit with failover requests; return its call count."""
    tally = Tally()
    await constant_rate(
        s.proxy_url,
        rate=20,
        seconds=1,
        concurrency=1,
        stream_share=0,
        tally=tally,
        models=("flaky", "flaky", "flaky"),
    )
    if tally.failures:
        raise RuntimeError(f"failover did not hide the broken channel: {tally.failures[:3]}")
    return get_json(s.counts_url, "").get("broken", 0)


async def soak(s: Servers, snapshot: Path, versions: list[bytes], args: argparse.Namespace) -> dict:
    broken_calls = await open_circuit(s)
    load = dict(
        rate=args.rate, concurrency=args.concurrency, stream_share=args.stream_share, models=MODELS
    )
    await constant_rate(s.proxy_url, seconds=3, tally=Tally(), **load)  # warm-up
    await asyncio.sleep(2)
    memory = Memory(start=procs.rss_mb(s.proxy_pid))
    stop = asyncio.Event()
    sampler = asyncio.get_running_loop().create_task(sample_rss(s.proxy_pid, memory, stop))
    with_reloads, without = Tally(), Tally()
    done: dict[str, int] = {}
    before = get_json(s.proxy_url, "/readyz")
    # Slices with and without reloads alternate, each pair with the same request mix, so a
    # neighbour's load on a shared machine weighs on both sides alike.
    seconds = args.duration / args.slices
    for k in range(args.slices):
        count = args.reloads // args.slices + (k < args.reloads % args.slices)
        await asyncio.gather(
            constant_rate(s.proxy_url, seconds=seconds, tally=with_reloads, seed=k, **load),
            reload_many(snapshot, versions, count, seconds, done),
        )
        ready = await wait_digest(s.proxy_url, digest_of_bytes(versions[0]))
        await asyncio.sleep(0.5)  # let the last reload settle before the quiet slice
        await constant_rate(s.proxy_url, seconds=seconds, tally=without, seed=k, **load)
    await asyncio.sleep(args.settle)
    memory.end = procs.rss_mb(s.proxy_pid)
    stop.set()
    await sampler
    return {
        "with": with_reloads,
        "without": without,
        "memory": memory,
        "modes": done,
        "reloads": ready["reloads"] - before["reloads"],
        "refusals": ready["refusals"] - before["refusals"],
        "broken_calls": (broken_calls, get_json(s.counts_url, "").get("broken", 0)),
        "circuit": circuit_state(s.proxy_url, "flaky-broken"),
    }


def circuit_state(url: str, channel: str) -> str | None:
    """The channel's circuit as /admin/status shows it, or None without that endpoint."""
    status = get_json(url, "/admin/status")
    for model in (status or {}).get("models", ()):
        for c in model.get("channels", ()):
            if c.get("name") == channel:
                return c["circuit"]["state"]
    return None


def verdicts(r: dict, args: argparse.Namespace) -> list[tuple[str, bool]]:
    w, wo, mem = r["with"], r["without"], r["memory"]
    opened, after = r["broken_calls"]
    checks = [
        ("no failed request", not w.failures and not wo.failures),
        ("memory back within 10 MB of the start", mem.end - mem.start <= 10),
        (
            "open circuit kept: broken channel not called during the soak",
            opened >= 3 and after == opened and r["circuit"] in (None, "open"),
        ),
    ]
    for kind in ("plain", "stream"):
        p99_with, p99_without = (
            percentile(w.latencies[kind], 99),
            percentile(wo.latencies[kind], 99),
        )
        checks.append(
            (f"{kind} p99 with reloads within 5% of without", p99_with <= p99_without * 1.05)
        )
    return checks


def render(r: dict, args: argparse.Namespace) -> str:
    w, wo, mem = r["with"], r["without"], r["memory"]
    lines = [
        f"machine: {machine()}",
        f"load: {args.rate:g} req/s for {args.duration:g} s with reloads and "
        f"{args.duration:g} s without, alternating in {args.slices} pairs of slices, "
        f"{args.stream_share:.0%} streams of {args.stream_seconds:g} s, "
        f"at most {args.concurrency} in flight",
        f"snapshot replaced {sum(r['modes'].values())} times: "
        + ", ".join(f"{n} {m}" for m, n in r["modes"].items()),
        f"proxy: {r['reloads']} reloads applied, {r['refusals']} refused",
    ]
    for name, t in (("with reloads", w), ("without reloads", wo)):
        lines.append(
            f"{name}: {t.requests} requests, {len(t.failures)} failed; "
            + "; ".join(
                f"{k} p50 {percentile(v, 50) * 1000:.1f} ms p99 {percentile(v, 99) * 1000:.1f} ms"
                for k, v in t.latencies.items()
            )
        )
        lines += [f"  failure: {f}" for f in t.failures[:5]]
    lines.append(
        f"RSS: start {mem.start:.1f} MB, peak {mem.peak:.1f} MB, "
        f"end {mem.end:.1f} MB (after {args.settle:g} s idle)"
    )
    opened, after = r["broken_calls"]
    lines.append(
        f"broken channel calls: {opened} to open its circuit, {after} at the end; "
        f"its circuit in /admin/status: {r['circuit'] or 'no such endpoint'}"
    )
    lines += [f"[{'ok' if ok else 'FAIL'}] {name}" for name, ok in verdicts(r, args)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=120,
        help="seconds of load with reloads (and as many without)",
    )
    parser.add_argument(
        "--slices", type=int, default=6, help="alternations of with and without reloads"
    )
    parser.add_argument("--reloads", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, max")
    parser.add_argument("--rate", type=float, default=100, help="requests started per second")
    parser.add_argument("--stream-share", type=float, default=0.2)
    parser.add_argument("--stream-seconds", type=float, default=1.5)
    parser.add_argument("--settle", type=float, default=10, help="idle seconds before end RSS")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reload-soak-"))
    snapshot = work / "snapshot.json"
    versions: list[bytes] = []

    def first(upstream: str) -> bytes:
        versions.extend(compile_snapshot(catalog_documents(upstream, v)) for v in range(4))
        return versions[0]

    with servers(work, snapshot, first, args.stream_seconds) as s:
        report = asyncio.run(soak(s, snapshot, versions, args))
    print(render(report, args))
    print(f"logs: {work}")
    return 0 if all(ok for _, ok in verdicts(report, args)) else 1


if __name__ == "__main__":
    sys.exit(main())
