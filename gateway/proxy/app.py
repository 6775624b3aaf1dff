"""The proxy's ASGI application: dispatch by raw path, one error handler, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from pathlib import Path
from typing import Any

from gateway.catalog.snapshot import ServerSettings
from gateway.errors import InternalError, InvalidRequest, ProxyError, UnknownURL
from gateway.proxy import models_api
from gateway.proxy.body import ClientGone
from gateway.proxy.breaker import Breakers
from gateway.proxy.clients import routes
from gateway.proxy.endpoints import POST
from gateway.proxy.exchange import Exchange, Receive, Scope, Send, dumps
from gateway.proxy.heap import HeapTrimmer, glibc_trim, hold_freed_heap, settle_heap
from gateway.proxy.pipeline import Pipeline
from gateway.proxy.reload import CatalogDir, Holder, SnapshotFile, Source
from gateway.proxy.snapshot_url import SnapshotURL, is_snapshot_url
from gateway.quota.gate import FAIL_OPEN, QuotaGate
from gateway.state import STATE_ENV, EmbeddedState, StateBackend, open_state
from gateway.state.circuits import SharedCircuits

#: fail_open or fail_closed: what quotas do while the state backend is unreachable.
STATE_UNAVAILABLE_ENV = "MODELYARD_STATE_UNAVAILABLE"

log = logging.getLogger("modelyard.proxy")

#: The status page and its endpoints (gateway/proxy/console.py).
ADMIN_UI_PATHS = frozenset({"/admin/ui", "/admin/ui/status", "/admin/probe"})
#: Paths of the client schemas other than chat (gateway/proxy/clients/routes.py).
CLIENT_PREFIXES = ("/v1/messages", "/v1/responses")


class ProxyApp:
    """Plain ASGI: the hot endpoints skip any framework routing or middleware stack.

    Every decision, auth included, uses the raw path the client sent (`scope["raw_path"]`,
    not percent-decoded), never a URL rebuilt from the Host header: `/admin%2fstatus` is an
    unknown URL, not the admin endpoint by another spelling.
    """

    def __init__(
        self,
        holder: Holder,
        *,
        no_auth: bool = False,
        watch: bool = True,
        rng: random.Random | None = None,
        http: Any = None,
        usage_log: str | None = None,
        metrics: bool = True,
        state_dir: Path | None = None,
        state: StateBackend | None = None,
        on_state_unavailable: str = FAIL_OPEN,
    ) -> None:
        from gateway.proxy.router import Router
        from gateway.state.documents import open_documents
        from gateway.usage.accounting import Accountant
        from gateway.usage.log import UsageLog

        if http is None:
            from gateway.proxy.upstream_http import AiohttpUpstream

            http = AiohttpUpstream()
        self.holder = holder
        self.watch = watch
        self.http = http
        self.router = Router(http, holder.breakers, rng)
        # Recent health of channels that left the catalog is forgotten with them.
        holder.on_install.append(lambda loaded: self.router.stats.retain(loaded.snapshot.channels))
        self.accountant = Accountant(
            UsageLog(usage_log), metrics_enabled=metrics, stats=self.router.stats
        )
        self.state = state or EmbeddedState()
        self.gate = QuotaGate(self.state, holder, on_unavailable=on_state_unavailable)
        # Through a shared backend, a circuit opened here is skipped by every replica.
        self.circuits = SharedCircuits(self.state, holder.breakers) if self.state.shared else None
        self.pipeline = Pipeline(
            holder, self.router, no_auth=no_auth, accountant=self.accountant, gates=[self.gate]
        )
        # Stored responses and video jobs: SQLite under state_dir (memory without one), or
        # Redis when the state is shared through it, so every replica sees them.
        self.documents = open_documents(state_dir, getattr(self.state, "link", None))
        self.state_dir = None if state_dir is None else str(state_dir)
        self.clients: Any = None  # the client APIs, built on first use (clients/routes.py)
        self._stop: asyncio.Event | None = None
        self._watcher: asyncio.Task | None = None
        self._circuit_sync: asyncio.Task | None = None
        self._circuit_stop = asyncio.Event()
        # Counts requests in flight; once none is, gives back what they freed (heap.py).
        self.heap = HeapTrimmer(glibc_trim())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self.lifespan(receive, send)
        heap = self.heap
        heap.in_flight += 1
        try:
            if kind == "http":
                await self.http_request(scope, receive, send)
            elif kind == "websocket":
                await self.websocket(scope, receive, send)
        finally:
            heap.in_flight -= 1

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket endpoints: the realtime sessions (gateway/proxy/realtime.py)."""
        from gateway.proxy import realtime

        request_id = _request_id(scope["headers"])
        try:
            if scope["path"] == realtime.PATH:
                await realtime.serve(self.pipeline, scope, receive, send, request_id)
            else:
                await realtime.refuse(
                    scope,
                    receive,
                    send,
                    request_id,
                    UnknownURL(f"Unknown WebSocket URL: {scope['path']}"),
                )
        except Exception:
            log.exception("realtime session %s failed", request_id)

    def server_settings(self) -> ServerSettings:
        """The HTTP server's timeouts, limits and shutdown times from the serving snapshot."""
        current = self.holder.current
        return current.snapshot.settings.server if current is not None else ServerSettings()

    def begin_drain(self) -> None:
        """Shutting down: /readyz answers 503 and every answer closes its connection."""
        self.holder.draining = True

    async def http_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        if self.holder.draining:
            send = _closing(send)
        ex = Exchange(scope, receive, send, _request_id(headers), headers)
        try:
            await self.dispatch(ex, scope["method"], _raw_path(scope))
        except ProxyError as error:
            if not ex.started:
                await ex.respond_error(error)
        except ClientGone:
            return
        except Exception:
            # A bug, not a client or upstream error: say so in OpenAI's shape, log the trace.
            log.exception("request %s failed", ex.request_id)
            if not ex.started:
                await ex.respond_error(
                    InternalError(f"internal error; see the proxy log for request {ex.request_id}")
                )

    async def dispatch(self, ex: Exchange, method: str, path: str) -> None:
        p = self.pipeline
        if path == "/healthz":
            return await ex.respond(200, b'{"status":"ok"}')
        if path == "/readyz":
            status = self.holder.status()
            status["worker"] = os.getpid()  # which process answered: `serve --workers N`
            return await ex.respond(200 if status["ready"] else 503, dumps(status))
        if path == "/metrics" and method == "GET":
            from gateway.proxy.admin import serve_metrics

            return await serve_metrics(p, ex)
        if path == "/admin/status" and method == "GET":
            from gateway.proxy.admin import serve_status

            return await serve_status(p, ex)
        if path in ADMIN_UI_PATHS:
            from gateway.proxy import console  # the status page: off the request path

            return await console.handle(p, ex, method, path)
        if path.startswith(CLIENT_PREFIXES):  # other client schemas: their own error shapes
            return await routes.dispatch(self, ex, method, path)
        endpoint = POST.get(path)
        if endpoint is not None:
            ex.error_body = endpoint.error_body
        loaded = p.loaded()
        consumer = p.consumer(loaded, ex)  # every other path, known or not, needs a key
        if endpoint is not None and method == "POST":
            return await p.run(ex, loaded, consumer, endpoint)
        if method == "GET" and path == "/v1/models":
            return await models_api.list_models(ex, loaded, consumer)
        if method == "GET" and path.startswith("/v1/models/") and len(path) > 11:
            return await models_api.get_model(ex, loaded, consumer)
        if path == "/v1/realtime":
            raise InvalidRequest(
                "/v1/realtime is a WebSocket endpoint: connect with `Upgrade: websocket`",
                code="websocket_required",
            )
        if path == "/v1/videos" or path.startswith("/v1/videos/"):
            from gateway.proxy import videos

            return await videos.handle(p, ex, loaded, consumer, self.documents)
        if endpoint is not None or path == "/v1/models":
            raise InvalidRequest(
                f"method {method} is not allowed on {path}", code="method_not_allowed"
            )
        raise UnknownURL(f"Unknown request URL: {method} {path}")

    # ----- lifespan: first load, watching, SIGHUP, closing the upstream pool -----

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        holder = self.holder
        await self.state.warm()
        self.heap.start()
        if self.circuits is not None:
            self._circuit_sync = asyncio.get_running_loop().create_task(
                self.circuits.run(self._circuit_stop)
            )
        if holder.source is None:
            return
        if holder.current is None:
            await holder.reload_async()
        if self.watch:
            self._stop = asyncio.Event()
            self._watcher = asyncio.get_running_loop().create_task(holder.watch(self._stop))
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only possible in the main thread (not when embedded in a test server).
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGHUP, lambda: asyncio.ensure_future(holder.reload_async())
            )

    async def shutdown(self) -> None:
        await self.heap.aclose()
        if self._circuit_sync is not None:
            self._circuit_stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._circuit_sync, 2)
        await self.gate.drain()  # what finished requests used is recorded before leaving
        await self.documents.aclose()
        await self.state.aclose()
        if self._stop is not None:
            self._stop.set()
        if self._watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._watcher, 2)
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        close = getattr(self.http, "aclose", None)
        if close is not None:
            await close()
        # In multiprocess mode, what this worker counted stays in its files.
        self.accountant.close()


#: Request ids need to be unique, not secret: a generator seeded once from the OS, rather
#: than a getrandom system call (and a release of the GIL) for every request.
_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))  # no twin sequences


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    return scope["path"] if raw is None else raw.decode("latin-1")


def _closing(send: Send) -> Send:
    """`send` with `connection: close` on the answer, so keep-alive clients reconnect
    elsewhere while this process drains."""

    async def send_closing(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [*message.get("headers", ()), (b"connection", b"close")],
            }
        await send(message)

    return send_closing


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id" and 0 < len(value) <= 64 and value.isascii():
            text = value.decode()
            if text.replace("-", "").replace("_", "").isalnum():
                return text
    return f"{_ids.getrandbits(96):024x}"


def snapshot_source(
    snapshot: str | Path | None, catalog: Path | None, poll_interval_s: float | None = None
) -> Source:
    """A snapshot URL (polled), a snapshot file, or a catalog directory (both watched)."""
    if isinstance(snapshot, str) and is_snapshot_url(snapshot):
        return SnapshotURL(snapshot, *([poll_interval_s] if poll_interval_s else []))
    if snapshot is not None:
        return SnapshotFile(Path(snapshot))
    return CatalogDir(catalog or Path("catalog"))


def create_app(
    *,
    catalog: Path | None = None,
    snapshot: str | Path | None = None,
    no_auth: bool = False,
    watch: bool = True,
    holder: Holder | None = None,
    rng: random.Random | None = None,
    usage_log: str | None = None,
    metrics: bool = True,
    poll_interval_s: float | None = None,
    state_dir: Path | None = None,
    state: str | None = None,
    on_state_unavailable: str = FAIL_OPEN,
    settle: bool = False,
) -> ProxyApp:
    """The proxy app over a catalog directory, a snapshot file or URL, or a prepared holder;
    `state` is a state backend URL (default: embedded, this process only). `settle`: the
    process serves this app alone: each snapshot installed freezes the heap, and freed
    memory is kept while requests run (heap.settle_heap, heap.hold_freed_heap); not for
    apps embedded in a process that does other work."""
    if holder is None:
        holder = Holder(snapshot_source(snapshot, catalog, poll_interval_s), Breakers())
    if settle:
        holder.on_install.append(settle_heap)
        hold_freed_heap()
    if no_auth:
        from gateway.proxy.auth import warn_no_auth

        warn_no_auth()
    return ProxyApp(
        holder,
        no_auth=no_auth,
        watch=watch,
        rng=rng,
        usage_log=usage_log,
        metrics=metrics,
        state_dir=state_dir,
        state=open_state(state),
        on_state_unavailable=on_state_unavailable,
    )


def app_from_env() -> ProxyApp:
    """Factory for uvicorn workers: configuration comes from MODELYARD_* variables."""
    snapshot = os.environ.get("MODELYARD_SNAPSHOT")
    catalog = os.environ.get("MODELYARD_CATALOG")
    poll = os.environ.get("MODELYARD_POLL_INTERVAL")
    state_dir = os.environ.get("MODELYARD_STATE_DIR")
    return create_app(
        catalog=Path(catalog) if catalog else None,
        snapshot=snapshot or None,
        poll_interval_s=float(poll) if poll else None,
        state_dir=Path(state_dir) if state_dir else None,
        no_auth=os.environ.get("MODELYARD_NO_AUTH") == "1",
        usage_log=os.environ.get("MODELYARD_USAGE_LOG"),
        metrics=os.environ.get("MODELYARD_METRICS") != "0",
        state=os.environ.get(STATE_ENV),
        on_state_unavailable=os.environ.get(STATE_UNAVAILABLE_ENV, FAIL_OPEN),
        settle=True,
    )
