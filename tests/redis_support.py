"""A private redis-server on a loopback port, for tests that need Redis (and to stop it).

`.ci/run` installs redis-server and starts one for the run (MODELYARD_TEST_REDIS_URL);
tests that stop Redis start their own. Tests skip only where the binary is truly missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.upstreams.server import free_port

REDIS_SERVER = shutil.which("redis-server") or next(
    (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if Path(p).exists()), None
)

SHARED_URL = os.environ.get("MODELYARD_TEST_REDIS_URL")

#: for tests that start (and stop) redis-server processes of their own
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (.ci/run installs it)"
)

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None and not SHARED_URL,
    reason="redis-server is not installed (.ci/run installs it)",
)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process without persistence; `stop` and `start` keep its port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class SharedRedis:
    """The Redis `.ci/run` started for the whole run (never stopped by a test)."""

    def __init__(self, url: str) -> None:
        self.url = url


@contextmanager
def shared_redis() -> Iterator[SharedRedis | RedisServer]:
    """The run's Redis when `.ci/run` started one, else a private one."""
    if SHARED_URL:
        yield SharedRedis(SHARED_URL)
        return
    with redis_server() as server:
        yield server


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
