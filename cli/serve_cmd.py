"""`modelyard serve`: run the OpenAI-compatible proxy over a catalog or a compiled snapshot."""

from __future__ import annotations

import logging
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class OnUnavailable(StrEnum):
    fail_open = "fail_open"
    fail_closed = "fail_closed"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def serve(
    catalog: Path | None = typer.Option(
        None,
        "--catalog",
        help="Catalog directory, compiled in-process and watched (default ./catalog).",
    ),
    snapshot: str | None = typer.Option(
        None,
        "--snapshot",
        help="Compiled snapshot: a file, watched (deploy it by atomic "
        "rename), or an http(s) URL, polled with If-None-Match.",
    ),
    poll_interval: float = typer.Option(
        10.0, "--poll-interval", min=0.1, help="Seconds between polls of a --snapshot URL."
    ),
    shutdown_grace: float = typer.Option(
        0.0,
        "--shutdown-grace",
        min=0,
        help="Seconds after SIGTERM during which /readyz "
        "answers 503 but new connections are still accepted, so a load balancer probing "
        "readiness moves traffic away first (Kubernetes: a few readiness periods).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    no_auth: bool = typer.Option(
        False,
        "--no-auth",
        help="Local development only: no API key needed, every request "
        "acts as an anonymous consumer with the public scope.",
    ),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="Log level."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request line."),
    usage_log: str = typer.Option(
        "off",
        "--usage-log",
        help="Usage log, one JSON line per request: a file path, - for stdout, or off.",
    ),
    metrics: bool = typer.Option(
        True, "--metrics/--no-metrics", help="Count requests, tokens and cost for /metrics."
    ),
    loop: str = typer.Option(
        "auto", "--loop", help="Event loop: auto (uvloop when installed), asyncio or uvloop."
    ),
    http: str = typer.Option(
        "auto",
        "--http",
        help="HTTP/1.1 parser: auto (httptools when installed), httptools or h11. Both carry "
        "the same connection guards.",
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        help="Directory for what the proxy must remember across requests "
        "and restarts (stored responses of /v1/responses, video jobs; SQLite files); needed "
        "with --workers above 1. Default: memory.",
    ),
    state: str = typer.Option(
        "embedded",
        "--state",
        envvar="MODELYARD_STATE",
        help="Where quota counters, circuit openings, stored responses and video jobs live: "
        "embedded (this process; documents under --state-dir) or redis://HOST:PORT/DB, "
        "shared by every worker and replica.",
    ),
    state_unavailable: OnUnavailable = typer.Option(
        OnUnavailable.fail_open,
        "--state-unavailable",
        envvar="MODELYARD_STATE_UNAVAILABLE",
        help="While the state backend is unreachable: fail_open serves without quotas (and "
        "counts it), fail_closed answers 503.",
    ),
) -> None:
    """Serve the proxy. Exit 2 when the source is missing or both sources are given."""
    if catalog is not None and snapshot is not None:
        raise typer.BadParameter("give either --catalog or --snapshot, not both")
    from gateway.proxy.snapshot_url import is_snapshot_url

    url = snapshot if snapshot is not None and is_snapshot_url(snapshot) else None
    source = Path(snapshot) if snapshot is not None else (catalog or Path("catalog"))
    if url is None and not source.exists():
        from cli.hints import no_catalog

        typer.echo(
            no_catalog(source, "--snapshot FILE" if snapshot is not None else "--catalog PATH"),
            err=True,
        )
        raise typer.Exit(2)
    from gateway.state import open_state

    try:
        open_state(state)  # only checks the URL's form: Redis may come up later
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--state") from None
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from gateway import compiled
    from gateway.proxy.server import DrainingServer, guarded_protocol

    served_by = logging.getLogger("modelyard")
    served_by.info("request path: %s build", compiled.build_name())
    stale = compiled.stale()
    if stale:
        served_by.warning(
            "compiled modules older than their sources are served instead of them: %s; "
            "build again (python3 -m pip install .), or serve the sources: MODELYARD_SOURCES=1",
            ", ".join(stale),
        )

    try:
        protocol = guarded_protocol(http)
    except (ValueError, ImportError) as error:
        raise typer.BadParameter(str(error), param_hint="--http") from None

    # No `server` header: one less header per answer, and no banner. The guarded protocol
    # adds head/body deadlines, a connection limit and the framing check.
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        log_level=log_level.value,
        lifespan="on",
        access_log=access_log,
        server_header=False,
        loop=loop,
        http=protocol,
    )
    if workers > 1:
        # Each worker builds its own app from these variables (uvicorn's factory form).
        os.environ["MODELYARD_SNAPSHOT" if snapshot is not None else "MODELYARD_CATALOG"] = (
            url or str(source.resolve())
        )
        os.environ["MODELYARD_POLL_INTERVAL"] = str(poll_interval)
        os.environ["MODELYARD_NO_AUTH"] = "1" if no_auth else "0"
        os.environ["MODELYARD_USAGE_LOG"] = usage_log
        os.environ["MODELYARD_METRICS"] = "1" if metrics else "0"
        if state_dir is not None:
            os.environ["MODELYARD_STATE_DIR"] = str(state_dir.resolve())
        os.environ["MODELYARD_STATE"] = state
        os.environ["MODELYARD_STATE_UNAVAILABLE"] = state_unavailable.value
        if state == "embedded":
            logging.getLogger("modelyard").warning(
                "--workers %d with embedded state: each worker counts quotas on its own; "
                "use --state redis://... for limits that hold across workers",
                workers,
            )
        # Prometheus counters of every worker go to files in one directory, read at scrape.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="modelyard-metrics-")
        )
        from gateway.proxy.workers import Workers

        # Every worker drains on SIGTERM as one process does (gateway/proxy/workers.py).
        config = uvicorn.Config(
            "gateway.proxy.app:app_from_env", factory=True, workers=workers, **options
        )
        code = Workers(config, workers, shutdown_grace).run()
        if code:
            raise typer.Exit(code)
        return
    from gateway.proxy.app import create_app

    app = create_app(
        catalog=None if snapshot is not None else source,
        snapshot=url or (source if snapshot is not None else None),
        no_auth=no_auth,
        usage_log=usage_log,
        metrics=metrics,
        poll_interval_s=poll_interval,
        state_dir=state_dir,
        state=state,
        on_state_unavailable=state_unavailable.value,
        settle=True,
    )
    # SIGTERM drains (see gateway/proxy/server.py) and the process then exits 0.
    server = DrainingServer(
        uvicorn.Config(app, **options), on_drain=app.begin_drain, grace_s=shutdown_grace
    )
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn's startup-failure code: the port, say, was taken
