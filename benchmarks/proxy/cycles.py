"""The reference cycles a request leaves behind on the live server path.

    python3 -m benchmarks.proxy.cycles [--requests 200] [--modes plain,stream,paced,abort]
        [--connections keepalive,fresh] [--parallel 1] [--long 2000] [--show 4]

The proxy runs in this process as `modelyard serve` builds it (the guarded httptools
protocol on uvloop, usage log and metrics on, the heap settled at each install), on a
thread of its own; the upstreams and the client run in other processes, so nothing else
here makes garbage. Modes: plain JSON; a 13-event stream sent at once; the same stream
paced over 0.3 s (the disconnect watcher starts after 50 ms); `abort`, the paced stream
left by its client after the answer's head. `--long N`: first N streams of
benchmarks/proxy/long_streams.py at once (40 events at 20 a second), its upstream and
client. For each, after warm-up requests: `gc.DEBUG_SAVEALL`, the requests,
`gc.collect()`, then gc.garbage grouped by type and by cycle (a strongly connected group of
garbage objects, named by the types and code in it), each count per request; a cycle made
on purpose first proves the garbage is kept (and is left out).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.proxy import bench_catalog, procs, upstream
from benchmarks.proxy.targets import REPO, env_with

PACED_MODEL = "bench-chat-paced"
PACED_PREFIX = "/paced/v1"
PACED_EVENTS = 6
PACED_GAP_S = 0.05
#: --long: streams of benchmarks/proxy/long_streams.py, shorter (40 events at 20 a second).
LONG_MODEL = "bench-chat-long"
LONG_EVENTS = 40


# The upstream, in a process of its own (`--role upstream`).


class _Upstream(upstream.RequestProtocol):
    def answer(self, head: bytes) -> None:
        path = head.split(b" ", 2)[1]
        assert self.transport is not None
        if path.startswith(PACED_PREFIX.encode()):
            asyncio.get_running_loop().create_task(self._paced())
        elif path.startswith(upstream.STREAM_PREFIX.encode()):
            body = upstream.chat_stream().encode()
            self.transport.write(_head("text/event-stream", len(body)) + body)
        else:
            body = upstream.chat_completion().encode()
            self.transport.write(_head("application/json", len(body)) + body)

    async def _paced(self) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        events = upstream.chat_stream().split("\n\n")[:-1]
        step = max(1, len(events) // PACED_EVENTS)
        for at in range(0, len(events), step):
            data = "".join(e + "\n\n" for e in events[at : at + step]).encode()
            self.transport.write(b"%x\r\n%s\r\n" % (len(data), data))
            await asyncio.sleep(PACED_GAP_S)
        self.transport.write(b"0\r\n\r\n")


def _head(kind: str, length: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
        kind.encode(),
        length,
    )


async def _run_upstream(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# The client, in a process of its own (`--role client`): N requests, one at a time.


def _request(model: str, stream: bool) -> bytes:
    body = json.dumps(
        {
            "model": model,
            "stream": stream,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say hello."}],
        }
    ).encode()
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + bench_catalog.CLIENT_KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def _read_answer(sock: socket.socket, leftover: bytes) -> bytes:
    """Read one answer (Content-Length or chunked); returns what follows it."""
    data = leftover
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    lowered = head.lower()
    if b"content-length:" in lowered:
        length = int(lowered.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(rest) < length:
            rest += sock.recv(65536)
        return rest[length:]
    while b"0\r\n\r\n" not in rest:
        rest += sock.recv(65536)
    return rest[rest.index(b"0\r\n\r\n") + 5 :]


def _run_client(port: int, mode: str, count: int, fresh: bool, parallel: int = 1) -> None:
    if parallel > 1:
        threads = [
            threading.Thread(target=_run_client, args=(port, mode, count // parallel, fresh))
            for _ in range(parallel)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return
    model = {"plain": bench_catalog.PLAIN_MODEL, "stream": bench_catalog.STREAM_MODEL}.get(
        mode, PACED_MODEL
    )
    request = _request(model, mode != "plain")
    sock: socket.socket | None = None
    leftover = b""
    for _ in range(count):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
        if mode == "abort":  # the client leaves after the answer's head, mid-stream
            while b"\r\n\r\n" not in sock.recv(65536):
                pass
            sock.close()
            sock = None
            time.sleep(0.1)  # the proxy notices (its watcher starts after 50 ms)
            continue
        leftover = _read_answer(sock, leftover)
        if fresh:
            sock.close()
            sock, leftover = None, b""
    if sock is not None:
        sock.close()


# The proxy, here, and what its requests leave.


@contextlib.contextmanager
def _proxy(catalog: Path, port: int, work: Path) -> Iterator[Any]:
    import uvicorn

    from gateway.proxy.app import create_app
    from gateway.proxy.server import DrainingServer, guarded_protocol

    app = create_app(catalog=catalog, usage_log=str(work / "usage.jsonl"), settle=True)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        server_header=False,
        loop="uvloop",
        http=guarded_protocol(),
    )
    server = DrainingServer(config, on_drain=app.begin_drain)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    procs.wait_http(f"http://127.0.0.1:{port}/readyz", timeout_s=30)
    try:
        yield app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _client(port: int, mode: str, count: int, fresh: bool, parallel: int = 1) -> None:
    cmd = [sys.executable, "-m", "benchmarks.proxy.cycles", "--role", "client"]
    cmd += ["--port", str(port), "--modes", mode, "--requests", str(count)]
    cmd += ["--parallel", str(parallel)]
    cmd += ["--connections", "fresh" if fresh else "keepalive"]
    subprocess.run(cmd, check=True, env=env_with({}), cwd=REPO)


def describe(obj: object) -> str:
    """An object's type, and for code-bearing objects where the code is."""
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")
    code = None
    if isinstance(obj, types.FrameType):
        code = obj.f_code
    elif isinstance(obj, (types.FunctionType)):
        code = obj.__code__
    elif isinstance(obj, types.MethodType):
        func = obj.__func__
        return f"{name} {getattr(func, '__qualname__', func)}"
    elif isinstance(obj, (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)):
        code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
        code = code or getattr(obj, "ag_code", None)
    elif isinstance(obj, asyncio.Task):
        coro = obj.get_coro()
        code = getattr(coro, "cr_code", None)
    elif isinstance(obj, types.CellType):
        with contextlib.suppress(ValueError):
            return f"cell({describe(obj.cell_contents)})"
    if code is not None:
        path = code.co_filename.replace(str(REPO) + "/", "")
        path = path.split("site-packages/")[-1]
        return f"{name} {path}:{code.co_firstlineno} {code.co_qualname}"
    return name


def _cycles(garbage: list[object]) -> collections.Counter[tuple[str, ...]]:
    """Strongly connected groups of the garbage (Tarjan's, iterative), each named by the
    sorted descriptions of its members."""
    index_of = {id(o): i for i, o in enumerate(garbage)}
    edges = [[index_of[id(r)] for r in gc.get_referents(o) if id(r) in index_of] for o in garbage]
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    groups: collections.Counter[tuple[str, ...]] = collections.Counter()
    counter = 0
    for root in range(len(garbage)):
        if root in order:
            continue
        work = [(root, 0)]
        while work:
            node, at = work.pop()
            if at == 0:
                order[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for i in range(at, len(edges[node])):
                nxt = edges[node][i]
                if nxt not in order:
                    work.append((node, i + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], order[nxt])
            if recurse:
                continue
            if low[node] == order[node]:
                members = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    members.append(top)
                    if top == node:
                        break
                if len(members) > 1 or node in edges[node]:
                    groups[tuple(sorted(describe(garbage[m]) for m in members))] += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return groups


def measure_long(port: int, streams: int, show: int) -> int:
    """`streams` long paced streams at once (the long-stream benchmark's client)."""
    cmd = [sys.executable, "-m", "benchmarks.proxy.cycles", "--role", "long-client"]
    cmd += ["--port", str(port), "--requests", str(streams)]
    garbage = _garbage_of(lambda: subprocess.run(cmd, check=True, env=env_with({}), cwd=REPO), 0.5)
    return report(garbage, streams, f"{streams} long streams at once", show)


def _garbage_of(run: Callable[[], object], settle_s: float) -> list[object]:
    """What `run` (then `settle_s` of quiet) left in reference cycles: every object the
    collector finds unreachable, kept by DEBUG_SAVEALL, with one cycle made on purpose
    among them to prove the collector is on (`report` checks it)."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        probe: list[object] = []
        probe.append(probe)
        del probe
        run()
        time.sleep(settle_s)
        gc.collect()
    finally:
        gc.set_debug(0)
    garbage = list(gc.garbage)
    gc.garbage.clear()
    return garbage


def _is_probe(obj: object) -> bool:
    return type(obj) is list and len(obj) == 1 and obj[0] is obj


def report(garbage: list[object], count: int, label: str, show: int) -> int:
    if not any(_is_probe(o) for o in garbage):
        raise SystemExit("the cycle made on purpose was not kept: is the collector on?")
    garbage = [o for o in garbage if not _is_probe(o)]
    print(f"\n== {label}: {len(garbage)} garbage objects, {len(garbage) / count:.2f} per request")
    by_type = collections.Counter(describe(o) for o in garbage)
    for name, n in by_type.most_common(40):
        print(f"  {n / count:7.2f}  {name}")
    groups = _cycles(garbage)
    print(f"  cycles: {sum(groups.values()) / count:.2f} per request")
    for members, n in groups.most_common(show):
        print(f"  -- {n / count:.2f} per request, {len(members)} objects:")
        for name, k in collections.Counter(members).most_common(25):
            print(f"       {k:3d} x {name}")
    return sum(1 for o in garbage if type(o).__module__.startswith("gateway."))


def measure(port: int, mode: str, count: int, fresh: bool, show: int, parallel: int = 1) -> int:
    _client(port, mode, 20, fresh)  # warm-up: pools, caches, lazy imports
    time.sleep(0.3)
    # settled for 0.3 s: the connections the client closed end within it
    garbage = _garbage_of(lambda: _client(port, mode, count, fresh, parallel), 0.3)
    label = f"{mode}, {'a connection per request' if fresh else 'keep-alive'}"
    return report(garbage, count, label, show)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--modes", default="plain,stream,paced")
    parser.add_argument("--connections", default="keepalive,fresh")
    parser.add_argument("--parallel", type=int, default=1, help="requests at a time")
    parser.add_argument("--show", type=int, default=4, help="cycles shown per mode")
    parser.add_argument("--long", type=int, default=0, help="also N long paced streams at once")
    parser.add_argument(
        "--role", choices=("bench", "upstream", "client", "long-client"), default="bench"
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "upstream":
        import uvloop

        uvloop.install()
        asyncio.run(_run_upstream(args.port))
        return 0
    if args.role == "long-client":
        import resource

        from benchmarks.proxy.long_streams import run_clients

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16384)), hard))
        bench_catalog.STREAM_MODEL = LONG_MODEL  # run_clients asks for this model
        print(asyncio.run(run_clients(args.port, args.requests, LONG_EVENTS)))
        return 0
    if args.role == "client":
        _run_client(
            args.port, args.modes, args.requests, args.connections == "fresh", args.parallel
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="modelyard-cycles-") as tmp:
        work = Path(tmp)
        up_port, proxy_port = procs.free_port(), procs.free_port()
        root = f"http://127.0.0.1:{up_port}"
        catalog = bench_catalog.write_catalog(work / "catalog", root, max_connections=5000)
        (catalog / "paced.yaml").write_text(_paced_documents(root))
        cmd = [sys.executable, "-m", "benchmarks.proxy.cycles", "--role", "upstream"]
        cmd += ["--port", str(up_port)]
        env = env_with({bench_catalog.UPSTREAM_KEY_ENV: bench_catalog.UPSTREAM_KEY})
        os.environ[bench_catalog.UPSTREAM_KEY_ENV] = bench_catalog.UPSTREAM_KEY
        long_port = procs.free_port()
        long_root = f"http://127.0.0.1:{long_port}"
        (catalog / "long.yaml").write_text(_paced_documents(root, LONG_MODEL, long_root))
        long_cmd = [sys.executable, "-m", "benchmarks.proxy.long_streams", "--role", "upstream"]
        long_cmd += ["--port", str(long_port), "--events", str(LONG_EVENTS)]
        with (
            procs.running(cmd, log=work / "upstream.log", env=env, cwd=REPO) as up,
            procs.running(long_cmd, log=work / "long.log", env=env, cwd=REPO) as long_up,
        ):
            procs.wait_port(up_port, timeout_s=10, proc=up)
            procs.wait_port(long_port, timeout_s=10, proc=long_up)
            with _proxy(catalog, proxy_port, work):
                if args.long:
                    ours = measure_long(proxy_port, args.long, args.show)
                    print(f"  objects of gateway.* types: {ours}")
                for mode in filter(None, args.modes.split(",")):
                    for kind in args.connections.split(","):
                        ours = measure(
                            proxy_port,
                            mode,
                            args.requests,
                            kind == "fresh",
                            args.show,
                            args.parallel,
                        )
                        print(f"  objects of gateway.* types: {ours}")
    return 0


def _paced_documents(root: str, model: str = PACED_MODEL, base: str = "") -> str:
    import yaml

    docs = [
        d
        for d in bench_catalog.documents(root)
        if d["kind"] in ("Provider", "Model", "Channel") and bench_catalog.STREAM_MODEL in d["name"]
    ]
    text = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
    text = text.replace(bench_catalog.STREAM_MODEL, model)
    return text.replace(root + upstream.STREAM_PREFIX, base or root + PACED_PREFIX)


if __name__ == "__main__":
    sys.exit(main())
