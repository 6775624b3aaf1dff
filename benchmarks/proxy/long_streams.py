"""Many long streams at once through one modelyard worker, from an upstream that paces them.

    python3 -m benchmarks.proxy.long_streams [--streams 2000] [--events 200] [--rate 20]
        [--target baseline] [--lockstep]

A paced upstream (this module, `--role upstream`: raw asyncio on uvloop, chunked SSE) sends
each stream `--events` OpenAI-shaped chunks (`"usage": null` on each) at `--rate` events a
second, each stream on its own clock from the moment its request came (`--lockstep`: all
streams' events in the same instant, one burst per period), then a finish chunk, a usage
chunk and [DONE]; each content chunk carries the monotonic time it was written.
`modelyard serve --workers 1` relays them; a client of raw connections opens `--streams`
streams at once (spread over the first second) and notes when each event arrives.
CLOCK_MONOTONIC is the same in every process of the machine, so arrival minus writing
time is what the proxy adds to each event; the report gives its p50, p99 and max, the
errors (streams not ending in [DONE], short streams, non-200), the server's CPU per event
relayed and the proxy's peak RSS. `--target baseline` runs the bare pass-through instead.
Targets (issue 18): no error, p99 added delay < 5 ms, RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.proxy import bench_catalog, procs, upstream
from benchmarks.proxy.targets import (
    PASSTHROUGH_APPS,
    REPO,
    SERVE_MALLOC_ENV,
    env_with,
    python_server,
    serve_command,
)

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
_PREFIX = (
    '{"id":"chatcmpl-long","object":"chat.completion.chunk","created":1700000000,'
    '"model":"bench-upstream","system_fingerprint":"fp_bench","choices":[{"index":0,'
    '"delta":{"content":"t='
)
_SUFFIX = '"},"logprobs":null,"finish_reason":null}],"usage":null}'
_END = (
    '{"id":"chatcmpl-long","object":"chat.completion.chunk","created":1700000000,'
    '"model":"bench-upstream","choices":[{"index":0,"delta":{},"logprobs":null,'
    '"finish_reason":"stop"}],"usage":null}'
)
_USAGE = (
    '{"id":"chatcmpl-long","object":"chat.completion.chunk","created":1700000000,'
    '"model":"bench-upstream","choices":[],"usage":{"prompt_tokens":20,'
    '"completion_tokens":200,"total_tokens":220}}'
)


def _chunk(payload: str) -> bytes:
    data = payload.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(data: str) -> str:
    return f"data: {data}\n\n"


class _Upstream(upstream.RequestProtocol):
    """One upstream connection: answers each request with a paced stream.

    Each stream keeps its own clock: its events fall due every 1/rate seconds from the
    moment its request came, as a model's tokens do, so 2,000 streams opened over a second
    spread their events over each period. With `lockstep`, every stream's event is written
    in the same instant instead, one burst a period (a worst case no real upstream sends).
    """

    streams: set[_Upstream] = set()  # the streams a lockstep tick writes to

    def __init__(self, events: int, rate: float, lockstep: bool) -> None:
        super().__init__()
        self.events = events
        self.period = 1 / rate
        self.lockstep = lockstep
        self.sent = 0
        self.started = 0.0

    def answer(self, head: bytes) -> None:
        assert self.transport is not None
        self.transport.write(HEAD)
        self.sent = 0
        if self.lockstep:
            _Upstream.streams.add(self)
            return
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        loop.call_at(self.started + self.period, self.tick)

    def tick(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        if self.sent < self.events:
            self.transport.write(_chunk(_event(f"{_PREFIX}{time.monotonic():.6f}{_SUFFIX}")))
            self.sent += 1
            if not self.lockstep:
                due = self.started + (self.sent + 1) * self.period
                asyncio.get_running_loop().call_at(due, self.tick)
            return
        self.transport.write(
            _chunk(_event(_END) + _event(_USAGE) + "data: [DONE]\n\n") + b"0\r\n\r\n"
        )
        _Upstream.streams.discard(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _Upstream.streams.discard(self)


async def run_upstream(port: int, events: int, rate: float, lockstep: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Upstream(events, rate, lockstep), "127.0.0.1", port, backlog=4096
    )
    async with server:
        if not lockstep:
            await asyncio.Event().wait()  # each stream ticks on its own timer
        while True:
            started = loop.time()
            for stream in list(_Upstream.streams):
                stream.tick()
            await asyncio.sleep(max(0.0, 1 / rate - (loop.time() - started)))


class _Client(asyncio.Protocol):
    """One client stream: the delay of each content event, and how the stream ended."""

    def __init__(self, request: bytes, delays: list[float], done: asyncio.Future) -> None:
        self.request = request
        self.delays = delays
        self.done = done
        self.text = b""
        self.events = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        at = data.find(b'"content":"t=')
        while at >= 0:
            end = data.find(b'"', at + 13)
            if end < 0:
                break  # the stamp is split across reads; left out of the delays
            self.delays.append(now - float(data[at + 13 : end]))
            self.events += 1
            at = data.find(b'"content":"t=', end)
        self.text = (self.text + data)[-200:]
        if b"data: [DONE]" in self.text and not self.done.done():
            self.done.set_result((self.text[:12], self.events))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result((b"lost", self.events))


async def run_clients(port: int, streams: int, events: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    body = json.dumps(
        {
            "model": bench_catalog.STREAM_MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": "Tell a long story."}],
        }
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + bench_catalog.CLIENT_KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    delays: list[float] = []
    results: list[asyncio.Future] = []
    transports = []
    for i in range(streams):
        done = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda done=done: _Client(request, delays, done), "127.0.0.1", port
        )
        transports.append(transport)
        results.append(done)
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # 2,000 streams opened over the first second
    ended = await asyncio.wait_for(asyncio.gather(*results), timeout=events * 0.2 + 60)
    for transport in transports:
        transport.close()
    errors = sum(1 for _, count in ended if count < events)
    delays.sort()
    return {
        "streams": streams,
        "errors": errors,
        "events": len(delays),
        "p50_ms": 1000 * statistics.median(delays),
        "p99_ms": 1000 * delays[int(len(delays) * 0.99)],
        "max_ms": 1000 * delays[-1],
    }


async def _peak_rss(pid: int, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, procs.rss_mb(pid))
        await asyncio.sleep(0.2)
    return peak


async def measure(args: argparse.Namespace, proxy_port: int, pid: int) -> dict[str, float]:
    stop = asyncio.Event()
    rss = asyncio.create_task(_peak_rss(pid, stop))
    cpu_before = procs.cpu_s(pid)
    try:
        result = await run_clients(proxy_port, args.streams, args.events)
    finally:
        stop.set()
    result["cpu_us_per_event"] = 1e6 * (procs.cpu_s(pid) - cpu_before) / max(result["events"], 1)
    result["peak_rss_mb"] = await rss
    return result


def _proxy_command(target: str, catalog: Path, port: int, work: Path) -> list[str]:
    if target == "baseline":
        return python_server(
            "uvicorn",
            port,
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
            "--lifespan",
            "on",
            "--backlog",
            "4096",
            PASSTHROUGH_APPS["baseline"],
        )
    return serve_command(catalog, port) + ["--usage-log", str(work / "usage.jsonl")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="events a second per stream")
    parser.add_argument("--role", choices=("bench", "upstream"), default="bench")
    parser.add_argument("--target", choices=("modelyard", "baseline"), default="modelyard")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="every stream's events written in the same instant (one burst a period)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.role == "upstream":
        asyncio.run(run_upstream(args.port, args.events, args.rate, args.lockstep))
        return 0
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
    with tempfile.TemporaryDirectory(prefix="modelyard-long-") as tmp:
        work = Path(tmp)
        up_port, proxy_port = procs.free_port(), procs.free_port()
        upstream = [
            sys.executable,
            "-m",
            "benchmarks.proxy.long_streams",
            "--role",
            "upstream",
            "--port",
            str(up_port),
            "--events",
            str(args.events),
            "--rate",
            str(args.rate),
            *(["--lockstep"] if args.lockstep else []),
        ]
        env = env_with({bench_catalog.UPSTREAM_KEY_ENV: bench_catalog.UPSTREAM_KEY})
        root = f"http://127.0.0.1:{up_port}"
        # the proxy's connection limit (1,000 by default) raised above the streams held open
        catalog = bench_catalog.write_catalog(
            work / "catalog", root, max_connections=2 * args.streams + 100
        )
        with (
            procs.running(upstream, log=work / "upstream.log", env=env, cwd=REPO) as up,
            procs.running(
                _proxy_command(args.target, catalog, proxy_port, work),
                log=work / "proxy.log",
                env={
                    **env,
                    **(SERVE_MALLOC_ENV if args.target == "baseline" else {}),
                    "BENCH_UPSTREAM_URL": root,
                },
                cwd=REPO,
            ) as proxy,
        ):
            procs.wait_port(up_port, timeout_s=10, proc=up)
            procs.wait_port(proxy_port, timeout_s=30, proc=proxy)
            result = asyncio.run(measure(args, proxy_port, proxy.pid))
    print(
        f"{args.target}: {args.streams:,} streams x {args.events} events at {args.rate:g}/s "
        f"({'in lockstep' if args.lockstep else 'each on its own clock'}) through one "
        f"worker: errors {result['errors']:.0f}; added delay per event p50 "
        f"{result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, max "
        f"{result['max_ms']:.1f} ms ({result['events']:,.0f} events); server CPU "
        f"{result['cpu_us_per_event']:.1f} us per event; peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    ok = result["errors"] == 0 and result["p99_ms"] < 5 and result["peak_rss_mb"] < 250
    print("targets (no error, p99 < 5 ms, RSS < 250 MB):", "met" if ok else "MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
