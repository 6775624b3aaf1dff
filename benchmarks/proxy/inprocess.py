"""CPU per request of the proxy's own code: the ASGI app driven in-process, no sockets.

The upstream seam is replaced by one that answers at once with the benchmark upstream's
canned bodies, and requests are handed to the app as ASGI calls, so what is measured is the
proxy's own work per request (auth, resolve, policy, routing, adapter, accounting, answer)
and none of the server's, the client's or the kernel's. Far steadier than the socket
benchmark on a noisy machine: use it to compare changes, and the socket benchmark for
figures.

    python3 -m benchmarks.proxy.inprocess                  # plain and stream, both setups
    python3 -m benchmarks.proxy.inprocess --split          # the usage log and metrics apart
    python3 -m benchmarks.proxy.inprocess --profile plain  # cProfile of plain, accounting on
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from benchmarks.proxy import bench_catalog, shapes, upstream
from benchmarks.proxy.targets import MODE_PATHS, MODES, REQUEST_SHAPES, request_body
from gateway import compiled
from gateway.proxy.adapters.base import Deadline
from gateway.proxy.app import ProxyApp, create_app
from gateway.proxy.exchange import dumps
from gateway.proxy.sse import decode

ROOT = "http://127.0.0.1:9"  # never contacted: the seam below answers instead


class CannedResponse:
    """An upstream answer already in memory, shaped like `UpstreamResponse`."""

    def __init__(self, body: bytes, content_type: str, events_per_read: int = 0) -> None:
        self.status = 200
        self.headers = {"Content-Type": content_type}
        self._body = body
        self._events_per_read = events_per_read

    async def read(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        import json

        return json.loads(self._body)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body in one read, or a stream in reads of `events_per_read` events, each
        after a turn of the event loop (as a paced upstream's reads come)."""
        if not self._events_per_read:
            yield self._body
            return
        events = [event + b"\n\n" for event in self._body.split(b"\n\n")[:-1]]
        for at in range(0, len(events), self._events_per_read):
            await asyncio.sleep(0)
            yield b"".join(events[at : at + self._events_per_read])

    def iter_sse(self) -> AsyncIterator[tuple[str | None, str]]:
        return decode(self.iter_bytes())

    async def close(self) -> None:
        return None


class CannedUpstream:
    """`UpstreamHTTP` answering every request with the canned plain or streamed body."""

    def __init__(self, stream_shape: str = "current", events_per_read: int = 0) -> None:
        self.plain = upstream.chat_completion().encode()
        self.stream = (
            upstream.chat_stream() if stream_shape == "current" else shapes.openai_stream(200)
        ).encode()
        self.events_per_read = events_per_read

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        deadline: Deadline,
        json: Any = None,
        data: bytes | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> CannedResponse:
        if json is not None and type(json) is not bytes:
            dumps(json)  # what the real seam (gateway/proxy/upstream_http.py) does with it
        if upstream.STREAM_PREFIX + upstream.CHAT_PATH in url:
            return CannedResponse(self.stream, "text/event-stream", self.events_per_read)
        return CannedResponse(self.plain, "application/json")


#: What each setup turns on: (usage log, metrics).
SETUPS = {
    "accounting": (True, True),
    "log-only": (True, False),
    "metrics-only": (False, True),
    "no-accounting": (False, False),
}


#: The request and stream shapes of the run (benchmarks/proxy/shapes.py).
SHAPE: dict[str, Any] = {"request": "current", "stream": "current", "events_per_read": 0}


def build_app(work: Path, setup: str) -> ProxyApp:
    usage_log, metrics = SETUPS[setup]
    os.environ[bench_catalog.UPSTREAM_KEY_ENV] = bench_catalog.UPSTREAM_KEY
    catalog = bench_catalog.write_catalog(work / "catalog", ROOT)
    app = create_app(
        catalog=catalog,
        watch=False,
        usage_log=str(work / "usage.jsonl") if usage_log else None,
        metrics=metrics,
    )
    app.http = app.router.http = CannedUpstream(SHAPE["stream"], SHAPE["events_per_read"])
    return app


async def drive(app: ProxyApp, mode: str, count: int) -> float:
    """Send `count` requests one after another; CPU seconds per request."""
    body = request_body(mode, SHAPE["request"])
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", b"Bearer " + bench_catalog.CLIENT_KEY.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "method": "POST",
        "path": MODE_PATHS[mode],
        "headers": headers,
        "query_string": b"",
        "http_version": "1.1",
    }
    request = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []
    pending: list[dict[str, Any]] = []  # the body once per request, then wait as uvicorn does
    never = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        return await never  # the client stays until the answer is out (cancelled then)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    gc.collect()
    started = time.process_time()
    for _ in range(count):
        pending.append(request)
        await app(scope, receive, send)
        await asyncio.sleep(0)  # let the loop run its timers and callbacks, as a server's does
    app.accountant.drain()  # this slice's usage log lines and metrics, not the next one's
    spent = time.process_time() - started
    if set(statuses) != {200}:
        raise SystemExit(f"{mode}: answers other than 200: {sorted(set(statuses))}")
    return spent / count


async def measure(
    slices: int, count: int, setups: list[str], modes: tuple[str, ...] = ("plain", "stream")
) -> dict[tuple[str, str], list[float]]:
    """CPU seconds per request of every setup and mode, `slices` times each.

    The setups take turns in short slices (each slice starting with the next setup), so a
    swing of the machine's speed, which moves a whole run by 10% here, falls on all of them.
    """
    spent: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        apps = {}
        for setup in setups:
            apps[setup] = build_app(Path(tmp) / setup, setup)
            await apps[setup].startup()
        for mode in modes:
            for app in apps.values():
                await drive(app, mode, count)  # warm-up
        # Modes take turns too, so that they can be compared with each other as well.
        for turn in range(slices):
            for mode in modes:
                order = setups[turn % len(setups) :] + setups[: turn % len(setups)]
                for setup in order:
                    spent.setdefault((setup, mode), []).append(
                        await drive(apps[setup], mode, count)
                    )
        for app in apps.values():
            await app.shutdown()
    return spent


async def profile(mode: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), "accounting")
        await app.startup()
        await drive(app, mode, count // 10)
        profiler = cProfile.Profile()
        profiler.enable()
        await drive(app, mode, count)
        profiler.disable()
        await app.shutdown()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="requests per slice")
    parser.add_argument("--slices", type=int, default=40, help="slices per setup and mode")
    parser.add_argument("--profile", choices=MODES, help="cProfile one mode")
    parser.add_argument(
        "--modes",
        default="plain,stream",
        help=f"modes to measure, comma separated, of {', '.join(MODES)} "
        "(messages-stream: an Anthropic Messages client, translated)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also measure the usage log and the metrics on their own",
    )
    parser.add_argument("--shape", choices=REQUEST_SHAPES, default="current", help="request shape")
    parser.add_argument(
        "--stream-shape", choices=upstream.STREAM_SHAPES, default="current", help="stream shape"
    )
    parser.add_argument(
        "--events-per-read",
        type=int,
        default=0,
        help="stream the answer in reads of this many events, a turn of the loop apart "
        "(0: the whole stream in one read)",
    )
    args = parser.parse_args()
    SHAPE.update(request=args.shape, stream=args.stream_shape, events_per_read=args.events_per_read)
    if args.profile:
        asyncio.run(profile(args.profile, args.count * 20))
        return
    setups = list(SETUPS) if args.split else ["accounting", "no-accounting"]
    modes = tuple(m for m in args.modes.split(",") if m in MODES)
    print(report(asyncio.run(measure(args.slices, args.count, setups, modes)), setups, modes))


def report(
    spent: dict[tuple[str, str], list[float]],
    setups: list[str],
    modes: tuple[str, ...] = ("plain", "stream"),
) -> str:
    """Median CPU per request of each setup; what each adds to no-accounting as the median
    of slice-by-slice differences (a slice and the no-accounting one right next to it)."""
    lines = [f"{compiled.build_name()} build of the request path", ""]
    lines += ["| setup | mode | CPU µs/request (median slice) |", "|---|---|---:|"]
    lines += [
        f"| {setup} | {mode} | {statistics.median(times) * 1e6:.1f} |"
        for (setup, mode), times in spent.items()
    ]
    for setup in setups[:-1]:
        for mode in modes:
            pairs = zip(spent[(setup, mode)], spent[("no-accounting", mode)], strict=True)
            added = sorted(on - off for on, off in pairs)
            base = statistics.median(spent[("no-accounting", mode)])
            low, mid, high = statistics.quantiles(added, n=4)
            lines.append(
                f"{setup} adds {statistics.median(added) * 1e6:.1f} µs "
                f"({statistics.median(added) / base * 100:.1f}%; middle half of slices "
                f"{low * 1e6:.1f} to {high * 1e6:.1f} µs) to {mode} requests"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
