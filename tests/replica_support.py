"""Several `modelyard serve` processes behind a round-robin load balancer, all on loopback,
and a paced load generator using the official SDK."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.upstreams.server import free_port

ROOT = Path(__file__).resolve().parents[1]


class RoundRobin:
    """A TCP load balancer: each new connection goes to the next backend in turn."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.port = free_port()
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = self.ports[self._next % len(self.ports)]
        self._next += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def __enter__(self) -> RoundRobin:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextmanager
def replicas(
    count: int, snapshot: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """`count` serve processes of `snapshot`, ready; their base URLs."""
    import os

    procs: list[subprocess.Popen] = []
    urls: list[str] = []
    logs = tempfile.TemporaryDirectory(prefix="modelyard-replicas-")
    try:
        for i in range(count):
            port = free_port()
            log = open(Path(logs.name) / f"replica-{i}.log", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "cli.main",
                        "serve",
                        "--snapshot",
                        str(snapshot),
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        *args,
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        for proc, url in zip(procs, urls, strict=True):
            while not _ready(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"replica {url} did not start: "
                        + "\n".join(p.read_text() for p in Path(logs.name).iterdir())
                    )
                time.sleep(0.05)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.cleanup()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Result:
    status: int
    seconds: float
    headers: httpx.Headers
    usage: Any = None


def sdk(base_url: str, key: str) -> openai.OpenAI:
    """The SDK with a new connection per request, so the balancer spreads them."""
    http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, http_client=http)


def one(client: openai.OpenAI, **kw: Any) -> Result:
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], **kw}
    started = time.perf_counter()
    try:
        raw = client.chat.completions.with_raw_response.create(**body)
        return Result(
            raw.status_code, time.perf_counter() - started, raw.headers, raw.parse().usage
        )
    except openai.APIStatusError as error:
        return Result(error.status_code, time.perf_counter() - started, error.response.headers)


def paced(
    send: Callable[[], Result], *, rate: float, seconds: float, workers: int = 16
) -> list[Result]:
    """`send()` at `rate` per second for `seconds`, started on schedule (a load generator:
    it paces, it does not wait for anything)."""
    count = int(rate * seconds)
    start = time.monotonic()

    def at(i: int) -> Result:
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return send()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(at, range(count)))
