"""Processes of the benchmark: install the tools, start servers, wait for them, stop them."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

APT_PACKAGES = {"nginx": "nginx", "wrk": "wrk"}
PIP_PACKAGES = {
    "aiohttp": "aiohttp",
    "httpx": "httpx",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "yaml": "pyyaml",
    "orjson": "orjson",
    "uvloop": "uvloop",
    "httptools": "httptools",
    "granian": "granian",
}  # the last three: the server stacks measured (granian: the `-granian` targets)


def ensure_tools(more_apt: Mapping[str, str] | None = None) -> None:
    """Install nginx and wrk (apt, as root) and the Python packages used, when missing;
    `more_apt`: further programs a benchmark needs, by the package that has them."""
    wanted_apt = {**APT_PACKAGES, **(more_apt or {})}
    missing = [pkg for tool, pkg in wanted_apt.items() if shutil.which(tool) is None]
    if missing:
        if os.geteuid() != 0:
            sys.exit(
                f"missing {', '.join(missing)}: install them (apt-get install -y "
                f"{' '.join(missing)}) or run as root"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    wanted = [pkg for mod, pkg in PIP_PACKAGES.items() if importlib.util.find_spec(mod) is None]
    if wanted:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *wanted], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str,
    *,
    timeout_s: float,
    interval_s: float = 0.01,
    proc: subprocess.Popen | None = None,
    method: str = "GET",
) -> float:
    """Poll `url` until it answers 200; return the seconds it took. Bounded by `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, method=method), timeout=1
            ) as answer:
                if answer.status == 200:
                    return time.monotonic() - start
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(interval_s)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s} s")


def wait_port(port: int, *, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"port {port}: the server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.01)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@contextlib.contextmanager
def running(
    cmd: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    """Run `cmd` in its own process group for the block; stop the whole group afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids += [int(k) for k in task.read_text().split()]
    return kids


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (bounded: a server tree is a handful of processes)."""
    found, todo = [], [pid]
    while todo and len(found) < 256:
        current = todo.pop()
        if current not in found:
            found.append(current)
            todo += _children(current)
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants."""
    ticks = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # Fields after the command name, which may itself hold spaces and parentheses.
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (VmRSS), in MB (10^6 bytes)."""
    total_kb = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb * 1024 / 1e6


def pin(pid: int, cpus: set[int]) -> None:
    """Keep a process, its descendants and every thread of each on `cpus`."""
    for p in _tree(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def nginx_upstream(work: Path, stream_shape: str = "current") -> Iterator[str]:
    """nginx serving the canned answers (see `upstream`) from `work`; yields its root URL."""
    from benchmarks.proxy import upstream

    port = free_port()
    command = upstream.nginx_command(work / "nginx", port, stream_shape)
    with running(command, log=work / "nginx.log") as proc:
        wait_port(port, timeout_s=10, proc=proc)
        yield f"http://127.0.0.1:{port}"


def report_main(nice: int, out: Path | None, run: Callable[[], str]) -> int:
    """Run a benchmark at niceness `nice`, print its report and write it to `out`.

    A SIGTERM unwinds through the finally blocks that stop the servers; the niceness is
    inherited by nginx, wrk and the servers.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if nice:
        try:
            os.nice(nice)
        except PermissionError:
            sys.exit(f"--nice {nice} needs root")
    text = run()
    print(text)
    if out:
        out.write_text(text)
    return 0
