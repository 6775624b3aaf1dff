"""What the soak scripts share: a slow fake upstream, snapshots, the proxy process, load and probes.

Run as `python -m benchmarks.soak_support upstream PORT STREAM_S` it is the fake upstream
(aiohttp, loopback): upstream model `plain` answers at once, `stream` streams for STREAM_S
seconds, `broken` answers 500. Everything else is imported by reload_soak.py and
memory_soak.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml

from benchmarks.proxy import procs

REPO = Path(__file__).resolve().parent.parent
CLIENT_KEY = "soak-client-key-0123456789"
STREAM_EVENTS = 20
#: A loopback address where nothing listens (fixed for the process: channel identity).
DEAD_URL = f"http://127.0.0.1:{procs.free_port()}/v1"


# ----- the fake upstream (its own process, so it never competes with the load's event loop) -----


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-soak",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "soak answer"},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def _event(model: str, delta: dict, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-soak",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def run_upstream(port: int, stream_s: float) -> None:
    """Serve the fake upstream until killed; counts requests per upstream model at /counts."""
    from aiohttp import web  # only the upstream process serves

    counts: dict[str, int] = {}

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = body.get("model", "")
        counts[model] = counts.get(model, 0) + 1
        if model == "broken":
            return web.json_response(
                {"error": {"message": "broken on purpose", "type": "server_error"}}, status=500
            )
        if not body.get("stream"):
            return web.json_response(_completion(model))
        answer = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await answer.prepare(request)
        await answer.write(_event(model, {"role": "assistant", "content": ""}))
        for i in range(STREAM_EVENTS):
            await asyncio.sleep(stream_s / STREAM_EVENTS)
            await answer.write(_event(model, {"content": f"w{i} "}))
        await answer.write(_event(model, {}, "stop") + b"data: [DONE]\n\n")
        return answer

    async def show_counts(_: web.Request) -> web.Response:
        return web.json_response(counts)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/counts", show_counts)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ----- snapshots -----


def catalog_documents(
    upstream: str, version: int, *, failing: bool = False, cooldown_s: int = 600
) -> list[dict]:
    """Models `chat`, `stream` and `flaky` (a broken high channel over a good normal one).

    `version` changes only a description, so every channel keeps its identity (and breaker)
    across versions; `failing` points every channel at an upstream that fails. A circuit
    stays open `cooldown_s` (the reload soak keeps one open for its whole length).
    """
    docs: list[dict] = [
        {
            "kind": "Settings",
            "name": "soak",
            "defaults": {
                "retry_budget": 1,
                "total_timeout_s": 30,
                "first_byte_timeout_s": 10,
                "circuit_breaker": {
                    "failure_threshold": 3,
                    "cooldown_s": cooldown_s,
                    "max_cooldown_s": max(cooldown_s, 2),
                },
            },
        },
        {"kind": "Capability", "name": "streaming", "applies_to": ["chat"]},
        {
            "kind": "Consumer",
            "name": "soak",
            "owner": {"type": "person", "code": "soak"},
            "key_sha256": [hashlib.sha256(CLIENT_KEY.encode()).hexdigest()],
            "scopes": ["public", "admin"],
        },
        {
            "kind": "Provider",
            "name": "up",
            "protocol": "openai",
            "base_url": upstream,
            "auth": {"type": "none"},
            "data_destination": "inner",
        },
        {
            "kind": "Provider",
            "name": "dead",
            "protocol": "openai",
            "base_url": DEAD_URL,
            "auth": {"type": "none"},
            "data_destination": "inner",
        },
    ]
    price = {"unit": "per_million_tokens", "currency": "USD", "input": "0", "output": "0"}
    for name in ("chat", "stream", "flaky"):
        docs.append(
            {
                "kind": "Model",
                "name": name,
                "type": "chat",
                "visibility": "public",
                "capabilities": ["streaming"],
                "description": f"soak version {version}",
            }
        )
    channels = [
        ("chat-up", "chat", "up", "plain", "normal"),
        ("stream-up", "stream", "up", "stream", "normal"),
        ("flaky-broken", "flaky", "up", "broken", "high"),
        ("flaky-up", "flaky", "up", "plain", "normal"),
    ]
    if failing:
        channels = [(n, m, "up", "broken", p) for n, m, _, _, p in channels]
        channels += [(f"{m}-dead", m, "dead", "plain", "low") for m in ("chat", "stream")]
    for name, model, provider, upstream_model, priority in channels:
        docs.append(
            {
                "kind": "Channel",
                "name": name,
                "model": model,
                "provider": provider,
                "upstream_model": upstream_model,
                "priority": priority,
                "price": price,
            }
        )
    return docs


def compile_snapshot(docs: list[dict]) -> bytes:
    """The snapshot file's bytes for `docs`, through the real load/validate/compile pipeline."""
    from gateway.catalog.compile import build, snapshot_bytes

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "catalog.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
        result = build(Path(tmp))
    if result.snapshot is None:
        raise RuntimeError(
            "soak catalog does not compile:\n" + "\n".join(d.text() for d in result.diagnostics)
        )
    return snapshot_bytes(result.snapshot)


def replace_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----- processes -----


@dataclass
class Servers:
    """The running upstream and proxy."""

    upstream_url: str
    proxy_url: str
    proxy_pid: int
    counts_url: str


@contextlib.contextmanager
def servers(
    work: Path, snapshot: Path, first: Callable[[str], bytes], stream_s: float
) -> Iterator[Servers]:
    """Start the fake upstream, write `first(upstream_url)` to `snapshot` and serve it with
    `modelyard serve --snapshot`; stop both afterwards."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    up_port, proxy_port = procs.free_port(), procs.free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    upstream_cmd = [
        sys.executable,
        "-m",
        "benchmarks.soak_support",
        "upstream",
        str(up_port),
        str(stream_s),
    ]
    with procs.running(upstream_cmd, log=work / "upstream.log", env=env, cwd=REPO) as up:
        procs.wait_port(up_port, timeout_s=30, proc=up)
        snapshot.write_bytes(first(upstream + "/v1"))
        serve = [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--snapshot",
            str(snapshot),
            "--host",
            "127.0.0.1",
            "--port",
            str(proxy_port),
            "--log-level",
            "warning",
        ]
        with procs.running(serve, log=work / "proxy.log", env=env, cwd=REPO) as proxy:
            procs.wait_http(f"http://127.0.0.1:{proxy_port}/readyz", timeout_s=30, proc=proxy)
            yield Servers(
                upstream + "/v1", f"http://127.0.0.1:{proxy_port}", proxy.pid, upstream + "/counts"
            )


# ----- load -----


@dataclass
class Tally:
    """Latencies (s) by kind, and every failure with what it was."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"plain": [], "stream": []})
    failures: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values()) + len(self.failures)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def client(url: str, concurrency: int) -> aiohttp.ClientSession:
    """A pooled client for the load (aiohttp: a fraction of httpx's CPU per request, so the
    load generator is not what limits the figures)."""
    return aiohttp.ClientSession(
        base_url=url,
        headers={"authorization": f"Bearer {CLIENT_KEY}"},
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def one_request(
    http: aiohttp.ClientSession, model: str, stream: bool, tally: Tally, expect_ok: bool = True
) -> None:
    """Send one chat request; record its latency, or why it failed."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    started = time.perf_counter()
    try:
        async with http.post("/v1/chat/completions", json=body) as answer:
            data = await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.failures.append(f"{model}: {type(exc).__name__}: {exc}")
        return
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - started
    if not expect_ok:
        tally.latencies["plain"].append(elapsed)
    elif status != 200:
        tally.failures.append(f"{model}: {status} {data[:160]!r}")
    elif stream and (not data.rstrip().endswith(b"data: [DONE]") or b'"error"' in data):
        tally.failures.append(f"{model}: stream ended badly: {data[-160:]!r}")
    else:
        tally.latencies["stream" if stream else "plain"].append(elapsed)


async def constant_rate(
    url: str,
    *,
    rate: float,
    seconds: float,
    concurrency: int,
    stream_share: float,
    tally: Tally,
    models: tuple[str, str, str],
    expect_ok: bool = True,
    seed: int = 7,
) -> None:
    """Start requests at `rate` per second for `seconds`, at most `concurrency` at once.

    `models` is (plain, stream, failover): a tenth of the plain requests go to the failover
    model, whose broken channel must stay skipped while its circuit is open.
    """
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    # One pool per kind, so plain requests never wait for a connection held by a stream.
    async with client(url, concurrency) as plain_http, client(url, concurrency) as stream_http:

        async def run(model: str, stream: bool) -> None:
            try:
                await one_request(
                    stream_http if stream else plain_http, model, stream, tally, expect_ok
                )
            finally:
                gate.release()

        tasks: set[asyncio.Task] = set()
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            stream = rng.random() < stream_share
            model = models[1] if stream else (models[2] if rng.random() < 0.1 else models[0])
            task = asyncio.get_running_loop().create_task(run(model, stream))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


async def closed_loop(url: str, *, seconds: float, concurrency: int, model: str) -> float:
    """Requests per second that `concurrency` back-to-back clients get (the capacity)."""
    done = 0
    end = time.perf_counter() + seconds
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with client(url, concurrency) as http:

        async def one_client() -> None:
            nonlocal done
            while time.perf_counter() < end:
                async with http.post("/v1/chat/completions", json=body) as answer:
                    await answer.read()
                    answer.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


# ----- probes of the proxy process -----


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def tcp_connections(pid: int) -> dict[str, int]:
    """The process's TCP sockets by state (matched by inode against /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    states = {"01": "established", "0A": "listen", "08": "close_wait"}
    found: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                parts = line.split()
                if parts[9] in inodes:
                    state = states.get(parts[3], "other")
                    found[state] = found.get(state, 0) + 1
    return found


def get_json(url: str, path: str) -> Any:
    answer = httpx.get(url + path, headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=10)
    return answer.json() if answer.status_code == 200 else None


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "upstream":
        run_upstream(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit("usage: python -m benchmarks.soak_support upstream PORT STREAM_SECONDS")
