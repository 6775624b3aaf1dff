"""The servers under test: how to start each target and where its requests go."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.proxy import bench_catalog, floor, litellm_target, procs, shapes, upstream
from gateway.proxy.heap import HELD_MALLOC

REPO = Path(__file__).resolve().parent.parent.parent
#: glibc's allocator tuned for a bare server as `modelyard serve` tunes its own
#: (gateway/proxy/heap.py): at 64 concurrent 200-event streams it made the baseline
#: cheaper too (docs/performance.md, "Freed memory kept while requests run").
SERVE_MALLOC_ENV = {name: str(value) for name, value in HELD_MALLOC.items()}
#: modelyard runs with its usage log (to a file) and metrics on; modelyard-no-accounting with
#: both off, so the pair shows what accounting costs (the -only targets split it up; they
#: run only when named).
TARGETS = (
    "direct",
    "baseline",
    "modelyard",
    "modelyard-no-accounting",
    "floor",  # the least a gateway doing modelyard's job must do (benchmarks/proxy/floor.py)
    "bare-aiohttp",
    "bare-httpx",
    "modelyard-asyncio",
    "modelyard-h11",
    "modelyard-granian",
    "baseline-granian",
    "modelyard-log-only",
    "modelyard-metrics-only",
    "litellm",  # LiteLLM's proxy, in a virtualenv of its own (benchmarks/proxy/litellm_target.py)
)
DEFAULT_TARGETS = TARGETS[:4]
#: How each modelyard target accounts: usage log and metrics both on (as deployed), one of
#: them, or neither; the differences say what each costs.
ACCOUNTING_FLAGS = {
    "modelyard": ["--usage-log", "{log}"],
    "modelyard-no-accounting": ["--no-metrics"],
    "modelyard-log-only": ["--usage-log", "{log}", "--no-metrics"],
    "modelyard-metrics-only": [],
    "modelyard-asyncio": ["--usage-log", "{log}", "--loop", "asyncio"],
    "modelyard-h11": ["--usage-log", "{log}", "--http", "h11"],
}
#: messages-stream: an Anthropic Messages client streaming through modelyard's translation
#: from the same chat stream (only modelyard targets serve it; its baseline is direct stream).
MODES = ("plain", "stream", "messages-stream")
CHAT_MODES = ("plain", "stream")
#: The path of each mode on modelyard.
MODE_PATHS = {
    "plain": "/v1/chat/completions",
    "stream": "/v1/chat/completions",
    "messages-stream": "/v1/messages",
}
PASSTHROUGH_APPS = {
    "baseline": "benchmarks.proxy.passthrough:fast_app",
    "floor": "benchmarks.proxy.floor:floor_app",
    "bare-aiohttp": "benchmarks.proxy.passthrough:aiohttp_app",
    "bare-httpx": "benchmarks.proxy.passthrough:httpx_app",
}
#: Request shapes: the first one the benchmark always had; a ~1 KB multi-turn chat with a
#: system message (and include_usage when streamed); a ~64 KB agent turn with a long history
#: and 20 tool definitions.
REQUEST_SHAPES = ("current", "multiturn", "agent")
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a target takes each mode's requests."""

    urls: dict[str, str]  # mode -> URL
    pid: int | None = None  # the server process, when the benchmark started one
    ready_s: float | None = None


def request_body(mode: str, shape: str = "current") -> bytes:
    model = bench_catalog.PLAIN_MODEL if mode == "plain" else bench_catalog.STREAM_MODEL
    body: dict = {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Say hello in ten words."}],
    }
    if shape != "current":
        body = shapes.request(model, shape)
    if mode != "plain":
        body["stream"] = True
        if shape != "current":
            body["stream_options"] = {"include_usage": True}
    # Encoded as the official SDKs send it (httpx's `json=`): compact, UTF-8 as is.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def uvicorn_impl() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn uses here: the fast ones only if installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def env_with(extra: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@contextlib.contextmanager
def start_target(
    target: str,
    work: Path,
    nginx_root: str,
    *,
    under: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[Endpoint]:
    """Run one target's server (none for direct) and yield where its requests go; `under`
    is a command the server runs under (a profiler, say), which keeps its process id."""
    if target == "direct":
        yield Endpoint(
            {
                m: nginx_root + p + upstream.CHAT_PATH
                for m, p in (("plain", upstream.PLAIN_PREFIX), ("stream", upstream.STREAM_PREFIX))
            }
        )
        return
    port = procs.free_port()
    env = env_with(
        {
            "BENCH_UPSTREAM_URL": nginx_root,
            bench_catalog.UPSTREAM_KEY_ENV: bench_catalog.UPSTREAM_KEY,
        }
    )
    if target == "litellm":
        with litellm_proxy(work, nginx_root, port) as endpoint:
            yield endpoint
        return
    if target.endswith("-granian"):
        catalog = bench_catalog.write_catalog(work / "catalog", nginx_root)
        env.update(
            MODELYARD_CATALOG=str(catalog), MODELYARD_USAGE_LOG=str(work / f"{target}.jsonl")
        )
        cmd = granian_command(target, port)
    elif target.startswith("modelyard"):
        catalog = bench_catalog.write_catalog(work / "catalog", nginx_root)
        cmd = serve_command(catalog, port)
        cmd += [
            flag.format(log=work / f"{target}-usage.jsonl") for flag in ACCOUNTING_FLAGS[target]
        ]
    else:
        loop, http = uvicorn_impl()
        cmd = python_server(
            "uvicorn",
            port,
            "--no-access-log",
            "--loop",
            loop,
            "--http",
            http,
            PASSTHROUGH_APPS[target],
        )
        if target in ("baseline", "floor"):
            # No X-Forwarded-* middleware: the baseline reads no client address, and uvicorn's
            # middleware for it cost the baseline 76-77 against 85-88 us of server CPU per
            # plain request (docs/performance.md, "The baseline and the server stack").
            cmd += ["--lifespan", "on", "--no-server-header", "--no-proxy-headers"]
            env[floor.USAGE_LOG_ENV] = str(work / f"{target}-usage.jsonl")
            env.update(SERVE_MALLOC_ENV)
    cmd = [*under, *cmd]
    with procs.running(cmd, log=work / f"{target}.log", env=env, cwd=REPO) as proc:
        if target.startswith("modelyard"):
            ready = procs.wait_http(
                f"http://127.0.0.1:{port}/readyz", proc=proc, timeout_s=ready_timeout_s
            )
        else:
            procs.wait_port(port, timeout_s=ready_timeout_s, proc=proc)
            ready = None
        base = f"http://127.0.0.1:{port}"
        if target.startswith("modelyard"):
            urls = {m: base + path for m, path in MODE_PATHS.items()}
        else:
            urls = {m: base + MODE_PATHS[m] for m in CHAT_MODES}
        yield Endpoint(urls, pid=proc.pid, ready_s=ready)


@contextlib.contextmanager
def litellm_proxy(work: Path, nginx_root: str, port: int) -> Iterator[Endpoint]:
    """LiteLLM's proxy (installed on first use; `LiteLLMUnavailable` when it cannot be),
    one worker, the chat modes only; ready when its liveness probe answers 200."""
    cli = litellm_target.ensure_litellm()
    config = litellm_target.write_config(work / "litellm.yaml", nginx_root)
    with procs.running(
        litellm_target.command(cli, config, port),
        log=work / "litellm.log",
        env=litellm_target.server_env(),
        cwd=work,
    ) as proc:
        base = f"http://127.0.0.1:{port}"
        ready = procs.wait_http(
            base + "/health/liveliness",
            proc=proc,
            timeout_s=litellm_target.READY_TIMEOUT_S,
            interval_s=0.1,
        )
        yield Endpoint({m: base + MODE_PATHS[m] for m in CHAT_MODES}, pid=proc.pid, ready_s=ready)


def granian_command(target: str, port: int) -> list[str]:
    """The app of a `-granian` target on granian (Rust HTTP server, one worker, uvloop):
    modelyard's app as `serve --workers` builds it (from MODELYARD_* variables, no
    connection guards: those are uvicorn protocols), or the baseline."""
    app = (
        ["--factory", "gateway.proxy.app:app_from_env"]
        if target.startswith("modelyard")
        else [PASSTHROUGH_APPS["baseline"]]
    )
    return python_server(
        "granian", port, "--interface", "asgi", "--loop", uvicorn_impl()[0], "--no-ws", *app
    )


def _one_worker_on(port: int) -> list[str]:
    """The flags every server under test starts with: 127.0.0.1:PORT, one worker."""
    return ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


def python_server(module: str, port: int, *args: str) -> list[str]:
    """`python -m MODULE` (uvicorn or granian) on 127.0.0.1:PORT: one worker, warnings only."""
    return [sys.executable, "-m", module, *_one_worker_on(port), "--log-level", "warning", *args]


def serve_command(source: Path, port: int) -> list[str]:
    """`modelyard serve` with one worker on a catalog directory or a snapshot file."""
    flag = "--snapshot" if source.is_file() else "--catalog"
    return [sys.executable, "-m", "cli.main", "serve", flag, str(source), *_one_worker_on(port)]


def compile_command(catalog: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "cli.main", "compile", str(catalog), "--output", str(output)]


def smoke_check(url: str, mode: str, shape: str = "current") -> None:
    """One request by hand: the answer must be a real chat completion (or stream) with 200."""
    request = urllib.request.Request(
        url,
        data=request_body(mode, shape),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {bench_catalog.CLIENT_KEY}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"{mode}: HTTP {err.code}: {err.read()[:300]!r}") from None
    ok = {
        "plain": '"chat.completion"' in text,
        "stream": "data: [DONE]" in text,
        "messages-stream": "event: message_stop" in text,
    }[mode]
    if not ok:
        raise RuntimeError(f"{mode}: unexpected answer {text[:300]!r}")
