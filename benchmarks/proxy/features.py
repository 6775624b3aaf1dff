"""What each of modelyard's features costs per request: switched off one at a time.

The floor target (floor.py) shows what the core of the job costs over the bare pass-through
(authenticate, route, rename, meter, log); the rest of the gap is modelyard's other
features. Here each is replaced by nothing in the same process, and with and without take
turns in slices of in-process requests (inprocess.py, accounting on), so a swing of the
machine falls on both; the figure is the median of the slice-by-slice differences. A
feature switched off is not a configuration modelyard offers: this is a measurement only.

    python3 -m benchmarks.proxy.features
    python3 -m benchmarks.proxy.features --only policy,validation --slices 40
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.proxy.inprocess import build_app, drive
from gateway.proxy.app import ProxyApp

CHAT_PATH = "/v1/chat/completions"


class Off:
    """Attributes (or mapping items) replaced by a no-op form while `off(True)`."""

    def __init__(self, swaps: list[tuple[Any, str, Any]]) -> None:
        self.swaps = [(owner, name, _get(owner, name), plain) for owner, name, plain in swaps]

    def off(self, on: bool) -> None:
        for owner, name, kept, plain in self.swaps:
            _set(owner, name, plain if on else kept)


def _get(owner: Any, name: str) -> Any:
    return owner[name] if isinstance(owner, dict) else getattr(owner, name)


def _set(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


class _NoWatch:
    gone = False

    def __init__(self, receive: Callable) -> None:
        pass

    def close(self) -> None:
        pass


class _NoDeadline:
    def __init__(self, when: float) -> None:
        pass

    def __enter__(self) -> _NoDeadline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _AlwaysClosed:
    def acquire(self) -> bool:
        return True

    def success(self) -> None:
        pass

    def failure(self, retry_after: float | None = None) -> None:
        pass

    def release(self) -> None:
        pass


def _chat(app: ProxyApp, **changes: Any) -> Off:
    from gateway.proxy.endpoints import POST

    return Off([(POST, CHAT_PATH, dataclasses.replace(POST[CHAT_PATH], **changes))])


def validation(app: ProxyApp) -> Off:
    """The request's form checked (types, ranges, roles) before it is resolved."""
    return _chat(app, check=lambda fields: None)


def policy(app: ProxyApp) -> Off:
    """The catalog's policy: allowed parameters, prompts, tools, sizes."""
    from gateway.proxy.pipeline import Prepared

    return _chat(app, prepare=lambda snapshot, model, body, files: Prepared(body))


def disconnect_watch(app: ProxyApp) -> Off:
    from gateway.proxy import pipeline

    return Off([(pipeline, "DisconnectWatch", _NoWatch)])


def deadlines(app: ProxyApp) -> Off:
    """The total deadline's timers (the upstream client's own timeouts stay)."""
    from gateway.proxy import pipeline, router

    return Off([(router, "timeout_at", _NoDeadline), (pipeline, "timeout_at", _NoDeadline)])


def breakers_and_stats(app: ProxyApp) -> Off:
    """Circuit breakers and the per-channel health kept for /admin/status."""
    closed = _AlwaysClosed()
    return Off(
        [
            (app.router.breakers, "get", lambda key, settings: closed),
            (app.router.breakers, "peek", lambda key: None),
            (app.router.stats, "success", lambda *args: None),
        ]
    )


def auth(app: ProxyApp) -> Off:
    """The key's digest looked up (the consumer taken as known instead)."""
    pipeline = app.pipeline
    consumer = pipeline.loaded().snapshot.consumers[0]
    return Off([(pipeline, "consumer", lambda loaded, ex: consumer)])


def quota_gate(app: ProxyApp) -> Off:
    """The quota gate's admission and settlement (the benchmark's catalog sets no quota)."""
    return Off([(app.pipeline, "gates", [])])


FEATURES: dict[str, Callable[[ProxyApp], Off]] = {
    "auth": auth,
    "validation": validation,
    "policy": policy,
    "disconnect-watch": disconnect_watch,
    "deadlines": deadlines,
    "breakers-and-stats": breakers_and_stats,
    "quota-gate": quota_gate,
}


async def measure(
    names: list[str], slices: int, count: int
) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """(with, without) CPU seconds per request of each feature and mode, slice by slice."""
    spent: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), "accounting")
        await app.startup()
        try:
            for name in names:
                switch = FEATURES[name](app)
                for mode in ("plain", "stream"):
                    with_: list[float] = []
                    without: list[float] = []
                    for off in (True, False):  # warm both
                        switch.off(off)
                        await drive(app, mode, count)
                    for turn in range(slices):
                        for off in (True, False) if turn % 2 else (False, True):
                            switch.off(off)
                            (without if off else with_).append(await drive(app, mode, count))
                    switch.off(False)
                    spent[(name, mode)] = (with_, without)
        finally:
            await app.shutdown()
    return spent


def report(spent: dict[tuple[str, str], tuple[list[float], list[float]]]) -> str:
    lines = [
        "| feature | mode | with µs/req | without µs/req | costs (median of slice pairs) "
        "| middle half of pairs |",
        "|---|---|---:|---:|---:|---|",
    ]
    for (name, mode), (with_, without) in spent.items():
        costs = sorted((w - o) * 1e6 for w, o in zip(with_, without, strict=True))
        low, mid, high = statistics.quantiles(costs, n=4)
        base = statistics.median(with_) * 1e6
        lines.append(
            f"| {name} | {mode} | {base:.1f} | {statistics.median(without) * 1e6:.1f} | "
            f"{mid:.1f} µs ({100 * mid / base:.0f}%) | {low:.1f} to {high:.1f} µs |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FEATURES), help="features to switch off")
    parser.add_argument("--count", type=int, default=300, help="requests per slice")
    parser.add_argument("--slices", type=int, default=20, help="slices per variant and mode")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise SystemExit(f"unknown features: {', '.join(sorted(unknown))}")
    print(report(asyncio.run(measure(names, args.slices, args.count))))


if __name__ == "__main__":
    main()
