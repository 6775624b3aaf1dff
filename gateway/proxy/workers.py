"""`serve --workers N`: N worker processes on one listening socket, each draining on a
signal exactly as a single process does (gateway/proxy/server.py, `DrainingServer`).

On SIGTERM or SIGINT the supervisor passes the signal on to every worker at once and
closes its own copy of the listening socket. Each worker then answers /readyz with 503,
still accepts connections for the grace period, closes its copy of the socket (once all
have, the port refuses connections), lets requests and streams in flight finish up to the
Settings' shutdown deadline and exits 0; the supervisor exits 0 when all have. A worker
that dies otherwise is replaced; one that cannot start stops the supervisor (exit 3).
SIGHUP is passed on too: every worker reloads its snapshot.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
from multiprocessing.context import SpawnProcess
from types import FrameType

import uvicorn
from uvicorn._subprocess import get_subprocess
from uvicorn.config import STARTUP_FAILURE

from gateway.proxy.server import DrainingServer

log = logging.getLogger("modelyard.proxy")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD = signal.SIGHUP  # passed on: every worker reloads its snapshot
CHECK_S = 0.5  # how often the supervisor looks for workers that died


def _work(grace_s: float, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
    """A worker: a draining server on the inherited sockets (runs in the child)."""
    DrainingServer(config, grace_s=grace_s).run(sockets=sockets)


class Workers:
    """The supervisor of the worker processes of one `serve`."""

    def __init__(self, config: uvicorn.Config, count: int, grace_s: float) -> None:
        self.config, self.count, self.grace_s = config, count, grace_s
        self.sockets: list[socket.socket] = []
        self.processes: list[SpawnProcess] = []
        self.stopping = False
        self.failed = False
        self._wake = threading.Event()
        self._signals: list[int] = []

    def _spawn(self) -> SpawnProcess:
        target = functools.partial(_work, self.grace_s, self.config)
        process = get_subprocess(self.config, target, self.sockets)
        process.start()
        return process

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)
        self._wake.set()

    def run(self) -> int:
        """Serve until stopped; the exit code (0 after a drain, 3 when a worker could not
        start)."""
        self.sockets = [self.config.bind_socket()]
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (*STOP_SIGNALS, RELOAD)}
        try:
            self.processes = [self._spawn() for _ in range(self.count)]
            while self.processes:
                self._wake.wait(CHECK_S)
                self._wake.clear()
                while self._signals:
                    self._forward(self._signals.pop(0))
                self._reap()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_sockets()
        return STARTUP_FAILURE if self.failed else 0

    def _forward(self, sig: int) -> None:
        """Pass a signal on to every worker; the first stop signal also closes our socket
        copy, so the port closes once the workers close theirs after the grace period."""
        if sig != RELOAD and not self.stopping:
            self.stopping = True
            log.info("%s: draining %d worker(s)", signal.Signals(sig).name, len(self.processes))
            self._close_sockets()
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, sig)

    def _reap(self) -> None:
        """Forget workers that exited; replace one that died while serving."""
        kept: list[SpawnProcess] = []
        for process in self.processes:
            if process.exitcode is None:
                kept.append(process)
                continue
            process.join()
            if self.stopping:
                continue
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %d could not start: stopping", process.pid)
                self.failed = True
            else:
                log.error("worker %d died (exit %s): replacing it", process.pid, process.exitcode)
                kept.append(self._spawn())
        self.processes = kept
        if self.failed and not self.stopping:
            self._forward(signal.SIGTERM)

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()
