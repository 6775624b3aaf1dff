"""The optional `litellm` target: LiteLLM's own proxy server in front of the same upstream.

LiteLLM pins many packages (pydantic, openai, fastapi, …) that would fight the project's,
so it lives in a virtualenv of its own under the benchmark's cache directory
(`$MODELYARD_BENCH_CACHE`, default ~/.cache/modelyard-bench), created on first use with
`python3 -m venv` and pip (a minute or two; later runs reuse it). When the install fails,
`ensure_litellm` raises `LiteLLMUnavailable` with a one-line reason and the benchmark
notes the target as not measured.

The proxy runs as its CLI starts it (`litellm --config FILE --num_workers 1`, uvicorn
underneath), with a config routing the two bench model names to nginx as OpenAI-compatible
models, each `api_base` ending where the baseline's requests go, and the bench upstream
key; the clients' key is its master key (no database, so no virtual keys). It runs
offline: the cost map is read from the package and telemetry is off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks.proxy import bench_catalog, upstream

#: What pip installs into the virtualenv (`BENCH_LITELLM_SPEC` overrides it, e.g. to pin
#: a version: `litellm[proxy]==1.80.0`).
DEFAULT_SPEC = "litellm[proxy]"
#: LiteLLM imports a lot and builds its router before it listens: about 10-15 s here.
READY_TIMEOUT_S = 180.0
INSTALL_TIMEOUT_S = 1200.0
#: Set for the server: the cost map read from the package (not fetched), telemetry off
#: (`LITELLM_TELEMETRY_DISABLED` since 1.10x; `litellm.telemetry = False` in the config for
#: older releases), errors only in the log, no admin UI or API docs pages.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY_DISABLED": "True",
    "LITELLM_LOG": "ERROR",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
}


class LiteLLMUnavailable(RuntimeError):
    """LiteLLM could not be installed or run here; the message says why in one line."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "modelyard-bench"
    return Path(os.environ.get("MODELYARD_BENCH_CACHE") or default)


def venv_dir() -> Path:
    return cache_dir() / "litellm-venv"


def _bin(name: str) -> Path:
    return venv_dir() / "bin" / name


def spec() -> str:
    return os.environ.get("BENCH_LITELLM_SPEC") or DEFAULT_SPEC


def ensure_litellm() -> Path:
    """The `litellm` CLI of the benchmark's virtualenv, installed there on first use.

    A marker file names the spec installed; without it (a first run, or an install cut
    short) the install runs again into the same virtualenv.
    """
    marker = venv_dir() / ".modelyard-installed"
    cli = _bin("litellm")
    if cli.exists() and marker.exists() and marker.read_text().strip() == spec():
        return cli
    venv_dir().parent.mkdir(parents=True, exist_ok=True)
    log = venv_dir().parent / "litellm-install.log"
    print(
        f"litellm: installing {spec()} into {venv_dir()} (first use: a minute or two; "
        f"pip's output in {log})",
        file=sys.stderr,
        flush=True,
    )
    steps = [
        [sys.executable, "-m", "venv", str(venv_dir())],
        [str(_bin("python")), "-m", "pip", "install", "--quiet", spec()],
    ]
    with log.open("w") as out:
        for step in steps:
            try:
                done = subprocess.run(
                    step,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=INSTALL_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                raise LiteLLMUnavailable(f"install failed: {' '.join(step[:4])}: {err}") from None
            if done.returncode != 0:
                raise LiteLLMUnavailable(
                    f"install failed: `{' '.join(step[2:])}` exited {done.returncode}"
                    f"{_last_line(log)} (see {log})"
                )
    if not cli.exists():
        raise LiteLLMUnavailable(f"install failed: no {cli} after installing {spec()}")
    marker.write_text(spec() + "\n")
    return cli


def _last_line(log: Path) -> str:
    """pip's last error line (its warnings about unused indexes say nothing of why)."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")] or lines
    return f": {errors[-1][:200]}" if errors else ""


def version() -> str:
    """The installed LiteLLM's version, or "?" when it cannot be read."""
    try:
        done = subprocess.run(
            [
                str(_bin("python")),
                "-c",
                "import importlib.metadata as m; print(m.version('litellm'))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip() or "?"


def write_config(path: Path, nginx_root: str) -> Path:
    """The proxy's config: each bench model routed to nginx where the baseline sends it."""
    routes = (
        (bench_catalog.PLAIN_MODEL, upstream.PLAIN_PREFIX),
        (bench_catalog.STREAM_MODEL, upstream.STREAM_PREFIX),
    )
    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    # OpenAI-compatible: LiteLLM posts to api_base + /chat/completions.
                    "model": "openai/bench-upstream",
                    "api_base": nginx_root + prefix,
                    "api_key": bench_catalog.UPSTREAM_KEY,
                },
            }
            for model, prefix in routes
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True},
        # The clients' key as the master key: LiteLLM checks it on every request, as a
        # gateway does (recent releases refuse to start without one).
        "general_settings": {"master_key": bench_catalog.CLIENT_KEY},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def command(cli: Path, config: Path, port: int) -> list[str]:
    """LiteLLM's proxy with one worker on 127.0.0.1:`port`."""
    return [
        str(cli),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]


def server_env() -> dict[str, str]:
    """The environment the server runs in: the caller's, without the repository on the
    path (LiteLLM imports only from its own virtualenv), plus `OFFLINE_ENV`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **OFFLINE_ENV}


def note(ready_s: float | None, rss_mb: float) -> str:
    """The report's line on what the `litellm` target ran and how it started."""
    ready = "–" if ready_s is None else f"{ready_s:.1f} s"
    return (
        f"litellm: LiteLLM {version()} proxy, one worker (`litellm --config FILE "
        f"--num_workers 1`, virtualenv {venv_dir()}), the clients' key as its master key, "
        f"no database; ready (liveness probe) in {ready}, RSS {rss_mb:.0f} MB after the load"
    )
