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

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.proxy import toggles
from benchmarks.proxy.toggles import Swap
from gateway.proxy.app import ProxyApp

CHAT_PATH = "/v1/chat/completions"


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


def _chat(**changes: Any) -> Swap:
    from gateway.proxy.endpoints import POST

    return Swap([(POST, CHAT_PATH, dataclasses.replace(POST[CHAT_PATH], **changes))])


def validation(app: ProxyApp) -> Swap:
    """The request's form checked (types, ranges, roles) before it is resolved."""
    return _chat(check=lambda fields: None)


def policy(app: ProxyApp) -> Swap:
    """The catalog's policy: allowed parameters, prompts, tools, sizes."""
    from gateway.proxy.pipeline import Prepared

    return _chat(prepare=lambda snapshot, model, body, files: Prepared(body))


def disconnect_watch(app: ProxyApp) -> Swap:
    from gateway.proxy import pipeline

    return Swap([(pipeline, "DisconnectWatch", _NoWatch)])


def deadlines(app: ProxyApp) -> Swap:
    """The total deadline's timers (the upstream client's own timeouts stay)."""
    from gateway.proxy import pipeline, router

    return Swap([(router, "timeout_at", _NoDeadline), (pipeline, "timeout_at", _NoDeadline)])


def breakers_and_stats(app: ProxyApp) -> Swap:
    """Circuit breakers and the per-channel health kept for /admin/status."""
    closed = _AlwaysClosed()
    return Swap(
        [
            (app.router.breakers, "get", lambda key, settings: closed),
            (app.router.breakers, "peek", lambda key: None),
            (app.router.stats, "success", lambda *args: None),
        ]
    )


def auth(app: ProxyApp) -> Swap:
    """The key's digest looked up (the consumer taken as known instead)."""
    pipeline = app.pipeline
    consumer = pipeline.loaded().snapshot.consumers[0]
    return Swap([(pipeline, "consumer", lambda loaded, ex: consumer)])


def quota_gate(app: ProxyApp) -> Swap:
    """The quota gate's admission and settlement (the benchmark's catalog sets no quota)."""
    return Swap([(app.pipeline, "gates", [])])


FEATURES: dict[str, Callable[[ProxyApp], Swap]] = {
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
    return await toggles.measure(names, slices, count, FEATURES)


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
    toggles.run(__spec__.name, __doc__.splitlines()[0], FEATURES, "features", report)


if __name__ == "__main__":
    main()
