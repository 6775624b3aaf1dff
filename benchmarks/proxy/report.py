"""Turn measured points into the benchmark's Markdown report and check the proxy's targets."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.proxy.load import Point
from gateway import compiled

DIRECT = "direct"
BARE_AIOHTTP = "bare-aiohttp"
#: The fastest bare pass-through (benchmarks/proxy/passthrough.py `fast_app`), on the same
#: server stack as modelyard: throughput is compared with it when it was measured.
BASELINE = "baseline"
MODELYARD = "modelyard"
NO_ACCOUNTING = "modelyard-no-accounting"
#: The least a gateway doing modelyard's job must do (benchmarks/proxy/floor.py).
FLOOR = "floor"

#: The targets of one uvicorn worker (issue 4): added p50 at concurrency 1, share of the bare
#: aiohttp pass-through's throughput at concurrency 16 and 64, memory, start time.
ADDED_P50_MS = {"plain": 1.0, "stream": 1.5}
THROUGHPUT_SHARE = {"plain": 0.70, "stream": 0.60}
#: Against the baseline (issue 18): 80% of its throughput, and at most 1.3x its added p50.
BASELINE_SHARE = {"plain": 0.80, "stream": 0.80}
BASELINE_ADDED_P50 = 1.3
RSS_LIMIT_MB = 100.0
READY_LIMIT_S = 1.5
#: What the usage log and metrics may add to modelyard's p50 (issue 7).
ACCOUNTING_SHARE = 0.05
#: A mode measured against another mode's direct baseline (the same upstream stream).
BASELINE_MODE = {"messages-stream": "stream"}
#: How much more overhead the translated Messages stream may add than the chat stream (issue 15).
MESSAGES_OVERHEAD_SHARE = 0.20

Key = tuple[str, str, int]  # (target, mode, concurrency)
Round = dict[Key, Point]  # every point of one round


@dataclass(frozen=True, slots=True)
class Startup:
    """How one modelyard start went: seconds to a 200 from /readyz, then memory."""

    catalog: str
    ready_s: list[float]
    rss_mb: float


def machine() -> str:
    """One line naming the machine: date, CPUs, CPU model, Python, kernel."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{today}; {os.cpu_count()} CPUs ({model}); Python {platform.python_version()}; "
        f"Linux {platform.release()}"
    )


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{suffix}"


def reference(points: Mapping[Key, Point]) -> str:
    """The pass-through throughput is compared with: the baseline when it was measured."""
    return BASELINE if any(k[0] == BASELINE for k in points) else BARE_AIOHTTP


def _name(target: str) -> str:
    return "the baseline" if target == BASELINE else "bare aiohttp"


def table(points: Mapping[Key, Point]) -> str:
    """The Markdown table: one row per target, mode and concurrency, in measuring order."""
    ref = reference(points)
    rows = [
        "| target | mode | conc. | req/s | p50 ms | p99 ms | added p50 vs direct | "
        f"% of {_name(ref).removeprefix('the ')} | server CPU µs/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (target, mode, conc), p in points.items():
        direct = points.get((DIRECT, BASELINE_MODE.get(mode, mode), conc))
        bare = points.get((ref, mode, conc))
        added = None if direct is None or target == DIRECT else p.p50_ms - direct.p50_ms
        share = None if bare is None or target == DIRECT else 100 * p.rps / bare.rps
        rows.append(
            f"| {target} | {mode} | {conc} | {p.rps:,.0f} | {p.p50_ms:.2f} | "
            f"{p.p99_ms:.2f} | {_fmt(added, '+.2f', ' ms')} | {_fmt(share, '.0f', '%')} | "
            f"{_fmt(p.cpu_us, ',.0f')} | {p.errors} |"
        )
    return "\n".join(rows)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _ratio(
    points: Mapping[Key, Point], rounds: list[Round], mine: Key, other: Key, value: str
) -> tuple[float, str]:
    """`value` of `mine` over that of `other`: the median of the per-round ratios when there
    are several rounds (each round measures the two back to back, so the machine's swings
    largely cancel), else the ratio of the kept points. From four rounds on, the text also
    gives the middle half of the ratios, to show how far the rounds disagree."""
    ratios = [
        getattr(r[mine], value) / getattr(r[other], value)
        for r in rounds
        if mine in r and other in r and getattr(r[mine], value) and getattr(r[other], value)
    ]
    if len(ratios) >= 4:
        low, _, high = statistics.quantiles(ratios, n=4)
        return statistics.median(ratios), (
            f" (median of {len(ratios)} rounds, middle half {low:.2f}–{high:.2f})"
        )
    if len(ratios) > 1:
        return statistics.median(ratios), f" (median of {len(ratios)} rounds)"
    return getattr(points[mine], value) / getattr(points[other], value), ""


def check_targets(
    points: Mapping[Key, Point], startups: list[Startup], rounds: list[Round] | None = None
) -> list[str]:
    """One line per target of modelyard that this run measured, saying met or MISSED."""
    rounds = rounds or []
    lines = []
    ref = reference(points)
    for mode, limit in ADDED_P50_MS.items():
        mine, direct = points.get((MODELYARD, mode, 1)), points.get((DIRECT, mode, 1))
        base = points.get((BASELINE, mode, 1))
        if mine and direct:
            added = mine.p50_ms - direct.p50_ms
            lines.append(
                f"added p50, {mode}, concurrency 1: {added:.2f} ms "
                f"(target <= {limit} ms): {_verdict(added <= limit)}"
            )
            if base and base.p50_ms > direct.p50_ms:
                times = added / (base.p50_ms - direct.p50_ms)
                lines.append(
                    f"added p50, {mode}, concurrency 1: {times:.2f}x the baseline's "
                    f"{base.p50_ms - direct.p50_ms:.2f} ms (target <= "
                    f"{BASELINE_ADDED_P50}x): {_verdict(times <= BASELINE_ADDED_P50)}"
                )
    shares = BASELINE_SHARE if ref == BASELINE else THROUGHPUT_SHARE
    for (target, mode, conc), p in points.items():
        bare = points.get((ref, mode, conc))
        if target == MODELYARD and conc > 1 and bare:
            share, how = _ratio(points, rounds, (target, mode, conc), (ref, mode, conc), "rps")
            want = shares[mode]
            line = (
                f"throughput, {mode}, concurrency {conc}: {100 * share:.0f}% of "
                f"{_name(ref)}{how} (target >= {100 * want:.0f}%): "
                f"{_verdict(share >= want)}"
            )
            if p.cpu_us and bare.cpu_us:
                # What the share would be if the server's CPU were the only limit.
                cpu, _ = _ratio(points, rounds, (ref, mode, conc), (target, mode, conc), "cpu_us")
                line += f"; by CPU per request {100 * cpu:.0f}%"
            lines.append(line)
    for (target, mode, conc), p in points.items():
        bare = points.get((NO_ACCOUNTING, mode, conc))
        if target == MODELYARD and bare:
            ratio, how = _ratio(
                points, rounds, (target, mode, conc), (NO_ACCOUNTING, mode, conc), "p50_ms"
            )
            added = ratio - 1
            line = (
                f"usage log + metrics, {mode}, concurrency {conc}: {100 * added:+.1f}% p50"
                f"{how} (target < {100 * ACCOUNTING_SHARE:.0f}%): "
                f"{_verdict(added < ACCOUNTING_SHARE)}"
            )
            if p.cpu_us and bare.cpu_us:
                cpu, _ = _ratio(
                    points, rounds, (target, mode, conc), (NO_ACCOUNTING, mode, conc), "cpu_us"
                )
                line += f"; CPU per request {100 * (cpu - 1):+.1f}%"
            lines.append(line)
    lines += messages_overhead(points, rounds)
    lines += floor_shares(points, rounds)
    for s in startups:
        median, worst = statistics.median(s.ready_s), max(s.ready_s)
        runs = f"median of {len(s.ready_s)}, worst {worst:.2f} s" if len(s.ready_s) > 1 else "1 run"
        lines.append(
            f"ready ({s.catalog}): {median:.2f} s ({runs}) "
            f"(target < {READY_LIMIT_S} s): {_verdict(median < READY_LIMIT_S)}"
        )
        lines.append(
            f"RSS ({s.catalog}): {s.rss_mb:.0f} MB "
            f"(target < {RSS_LIMIT_MB:.0f} MB): {_verdict(s.rss_mb < RSS_LIMIT_MB)}"
        )
    return lines


def floor_shares(points: Mapping[Key, Point], rounds: list[Round]) -> list[str]:
    """Where the floor was measured: its throughput as a share of the baseline's, and
    modelyard's as a share of the floor's, per mode and concurrency (medians of the
    per-round ratios): how much of the gap any gateway doing the job pays, and how much is
    modelyard's own."""
    lines = []
    for target, mode, conc in points:
        floor, base, mine = ((t, mode, conc) for t in (FLOOR, BASELINE, MODELYARD))
        if target != FLOOR or conc == 1 or base not in points:
            continue
        share, how = _ratio(points, rounds, floor, base, "rps")
        line = f"floor, {mode}, concurrency {conc}: {100 * share:.0f}% of the baseline{how}"
        if points[floor].cpu_us and points[base].cpu_us:
            cpu, _ = _ratio(points, rounds, base, floor, "cpu_us")
            line += f"; by CPU per request {100 * cpu:.0f}%"
        if mine in points:
            share, _ = _ratio(points, rounds, mine, floor, "rps")
            line += f"; modelyard {100 * share:.0f}% of the floor"
        lines.append(line)
    return lines


def messages_overhead(points: Mapping[Key, Point], rounds: list[Round]) -> list[str]:
    """The overhead (added p50 over direct) of the translated Messages stream against the
    chat stream's, per concurrency: the median of the per-round ratios; and the server's
    CPU per request of the one against the other."""
    lines = []
    for (target, mode, conc), p in points.items():
        if target != MODELYARD or mode != "messages-stream":
            continue
        keys = ((MODELYARD, mode, conc), (MODELYARD, "stream", conc), (DIRECT, "stream", conc))
        ratios = [
            (r[keys[0]].p50_ms - r[keys[2]].p50_ms) / (r[keys[1]].p50_ms - r[keys[2]].p50_ms)
            for r in (rounds or [dict(points)])
            if all(k in r for k in keys) and r[keys[1]].p50_ms > r[keys[2]].p50_ms
        ]
        if not ratios:
            continue
        ratio = statistics.median(ratios)
        line = (
            f"messages stream overhead, concurrency {conc}: {ratio:.2f}x the chat stream's "
            f"added p50 (median of {len(ratios)} round(s); target <= "
            f"{1 + MESSAGES_OVERHEAD_SHARE:.2f}x): "
            f"{_verdict(ratio <= 1 + MESSAGES_OVERHEAD_SHARE)}"
        )
        chat = points.get(keys[1])
        if p.cpu_us and chat and chat.cpu_us:
            cpu, _ = _ratio(points, rounds, keys[0], keys[1], "cpu_us")
            line += f"; server CPU per request {cpu:.2f}x the chat stream's"
        lines.append(line)
    return lines


def render(
    points: Mapping[Key, Point],
    startups: list[Startup],
    setup: list[str],
    rounds: list[Round] | None = None,
) -> str:
    """The whole report: machine, setup notes, the table, modelyard's targets."""
    build = f"modelyard's request path: {compiled.build_name()} build (setup.py)"
    parts = ["## Proxy benchmark", "", f"Machine: {machine()}", "", build, ""]
    parts += [f"- {line}" for line in setup]
    parts += ["", table(points), ""]
    checks = check_targets(points, startups, rounds)
    if checks:
        parts += ["modelyard against its targets (one worker):", ""]
        parts += [f"- {line}" for line in checks]
    return "\n".join(parts) + "\n"
