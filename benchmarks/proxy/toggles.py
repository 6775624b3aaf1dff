"""What each micro-optimisation of the request path saves: itself against the plain form.

Each toggle swaps one optimisation for the plain way of doing the same thing, in the same
process, and the two take turns in slices of in-process requests (benchmarks/proxy/inprocess.py,
accounting on), so a swing of the machine falls on both. The figure is the median of the
slice-by-slice differences, as a share of the optimised form's CPU per request: an
optimisation stays only where the plain form costs at least 3% more.

    python3 -m benchmarks.proxy.toggles                       # every toggle still in the code
    python3 -m benchmarks.proxy.toggles --only timeout_at,byte-fast-path --slices 40
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import statistics
import sys
import tempfile
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.proxy.inprocess import build_app, drive
from gateway import compiled
from gateway.proxy.app import ProxyApp


class Swap:
    """Attributes (or a dict's items) replaced by their plain form while `plain()` is on."""

    def __init__(self, swaps: list[tuple[Any, str, Any]]) -> None:
        self.swaps = [(owner, name, _get(owner, name), plain) for owner, name, plain in swaps]

    def plain(self, on: bool) -> None:
        for owner, name, fast, plain in self.swaps:
            _set(owner, name, plain if on else fast)


def _get(owner: Any, name: str) -> Any:
    return owner[name] if isinstance(owner, dict) else getattr(owner, name)


def _set(owner: Any, name: str, value: Any) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)


def rewritten(cls: type, name: str, old: str, new: str) -> Callable:
    """Method `name` of `cls` recompiled with `old` replaced by `new` in its source."""
    module = inspect.getmodule(cls)
    source = textwrap.dedent(inspect.getsource(getattr(cls, name)))
    if old not in source:
        raise SystemExit(f"{cls.__name__}.{name} no longer holds {old!r}")
    scope = {**vars(module), "asyncio": asyncio}
    exec(compile(source.replace(old, new), f"<plain {cls.__name__}.{name}>", "exec"), scope)
    return scope[name]


def timeout_toggle(_app: ProxyApp) -> Swap:
    """The hand-written `timeout_at` (a plain context manager) against asyncio.timeout_at."""
    from gateway.proxy.pipeline import Pipeline
    from gateway.proxy.router import Router

    old, new = "with timeout_at(", "async with asyncio.timeout_at("
    return Swap(
        [
            (Router, "_failover", rewritten(Router, "_failover", old, new)),
            (Pipeline, "_stream", rewritten(Pipeline, "_stream", old, new)),
            (Pipeline, "_answer", rewritten(Pipeline, "_answer", old, new)),
        ]
    )


class TaskWatch:
    """The plain disconnect watch: one watcher task per request, from its start."""

    __slots__ = ("active", "gone", "_task", "_watcher")

    def __init__(self, receive: Callable) -> None:
        self.active = True
        self.gone = False
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._watcher: asyncio.Task | None = task.get_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if self.active:
                    self.gone = True
                    self._task.cancel()
                return

    def close(self) -> None:
        self.active = False
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None


def disconnect_toggle(_app: ProxyApp) -> Swap:
    from gateway.proxy import pipeline

    return Swap([(pipeline, "DisconnectWatch", TaskWatch)])


class TimerDeadline:
    """The plain deadline: a timer handle of its own per block, created and cancelled."""

    __slots__ = ("_task", "_handle", "_cancelling", "_expired")

    def __init__(self, when: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._handle = task.get_loop().call_at(when, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def __enter__(self) -> TimerDeadline:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self._handle.cancel()
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError from error


def deadline_timer_toggle(_app: ProxyApp) -> Swap:
    from gateway.proxy import pipeline, router

    return Swap([(router, "timeout_at", TimerDeadline), (pipeline, "timeout_at", TimerDeadline)])


def fast_path_toggle(_app: ProxyApp) -> Swap:
    from gateway.proxy.adapters.openai import OpenAICompatible

    return Swap([(OpenAICompatible, "relays_bytes", False)])


TOGGLES: dict[str, Callable[[ProxyApp], Swap]] = {
    "timeout_at": timeout_toggle,
    "disconnect-sweeper": disconnect_toggle,
    "one-deadline-timer": deadline_timer_toggle,
    "byte-fast-path": fast_path_toggle,
}


async def measure(
    names: list[str],
    slices: int,
    count: int,
    swaps: Mapping[str, Callable[[ProxyApp], Swap]] = TOGGLES,
) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """(as is, swapped) CPU seconds per request of each swap and mode, slice by slice."""
    spent: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), "accounting")
        await app.startup()
        try:
            for name in names:
                swap = swaps[name](app)
                for mode in ("plain", "stream"):
                    fast: list[float] = []
                    plain: list[float] = []
                    for on in (True, False):  # warm both
                        swap.plain(on)
                        await drive(app, mode, count)
                    for turn in range(slices):
                        for on in (True, False) if turn % 2 else (False, True):
                            swap.plain(on)
                            (plain if on else fast).append(await drive(app, mode, count))
                    swap.plain(False)
                    spent[(name, mode)] = (fast, plain)
        finally:
            await app.shutdown()
    return spent


def report(spent: dict[tuple[str, str], tuple[list[float], list[float]]]) -> str:
    lines = [
        "| optimisation | mode | optimised µs/req | plain µs/req | plain costs more "
        "(median of slice pairs) | middle half of pairs | verdict |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for (name, mode), (fast, plain) in spent.items():
        ratios = sorted(p / f - 1 for f, p in zip(fast, plain, strict=True))
        low, mid, high = statistics.quantiles(ratios, n=4)
        verdict = "pays" if mid >= 0.03 else "does not pay"
        lines.append(
            f"| {name} | {mode} | {statistics.median(fast) * 1e6:.1f} | "
            f"{statistics.median(plain) * 1e6:.1f} | {mid * 100:+.1f}% | "
            f"{low * 100:+.1f}% to {high * 100:+.1f}% | {verdict} |"
        )
    return "\n".join(lines)


def run(
    module: str,
    description: str,
    swaps: Mapping[str, Callable[[ProxyApp], Swap]],
    kind: str,
    report: Callable[[dict[tuple[str, str], tuple[list[float], list[float]]]], str],
) -> None:
    """The command line of a set of swaps: which to measure, how long; the report printed.

    Swaps replace Python functions, which compiled callers (setup.py) call directly: on
    the compiled build the tool runs itself again on the sources (MODELYARD_SOURCES)."""
    if compiled.running():
        os.environ["MODELYARD_SOURCES"] = "1"
        os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--only", default=",".join(swaps), help=f"{kind} to measure")
    parser.add_argument("--count", type=int, default=300, help="requests per slice")
    parser.add_argument("--slices", type=int, default=20, help="slices per variant and mode")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(swaps)
    if unknown:
        raise SystemExit(f"unknown {kind}: {', '.join(sorted(unknown))}")
    print(report(asyncio.run(measure(names, args.slices, args.count, swaps))))


def main() -> None:
    run(__spec__.name, __doc__.splitlines()[0], TOGGLES, "toggles", report)


if __name__ == "__main__":
    main()
