"""`modelyard serve`: run the OpenAI-compatible proxy over a catalog or a compiled snapshot."""

from __future__ import annotations

import logging
import os
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


def serve(
    catalog: Path | None = typer.Option(
        None, "--catalog", help="Catalog directory, compiled in-process and watched "
        "(default ./catalog)."),
    snapshot: Path | None = typer.Option(
        None, "--snapshot", help="Compiled snapshot file, watched (production: deploy it by "
        "atomic rename)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Local development only: no API key needed, every request "
        "acts as an anonymous consumer with the public scope."),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="Log level."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request line."),
    usage_log: str = typer.Option(
        "off", "--usage-log", help="Usage log, one JSON line per request: a file path, - for "
        "stdout, or off."),
    metrics: bool = typer.Option(True, "--metrics/--no-metrics",
                                 help="Count requests, tokens and cost for /metrics."),
    loop: str = typer.Option(
        "auto", "--loop", help="Event loop: auto (uvloop when installed), asyncio or uvloop."),
    http: str = typer.Option(
        "auto", "--http", help="HTTP parser: auto (httptools when installed), h11 or httptools."),
) -> None:
    """Serve the proxy. Exit 2 when the source is missing or both sources are given."""
    if catalog is not None and snapshot is not None:
        raise typer.BadParameter("give either --catalog or --snapshot, not both")
    source = snapshot if snapshot is not None else (catalog or Path("catalog"))
    if not source.exists():
        typer.echo(f"error: {source} does not exist", err=True)
        raise typer.Exit(2)
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    # No `server` header: one less header for h11 to validate per answer, and no banner.
    options: dict[str, Any] = dict(host=host, port=port, log_level=log_level.value,
                                   lifespan="on", access_log=access_log, server_header=False,
                                   loop=loop, http=http)
    if workers > 1:
        # Each worker builds its own app from these variables (uvicorn's factory form).
        os.environ["MODELYARD_SNAPSHOT" if snapshot is not None else "MODELYARD_CATALOG"] = \
            str(source.resolve())
        os.environ["MODELYARD_NO_AUTH"] = "1" if no_auth else "0"
        os.environ["MODELYARD_USAGE_LOG"] = usage_log
        os.environ["MODELYARD_METRICS"] = "1" if metrics else "0"
        # Prometheus counters of every worker go to files in one directory, read at scrape.
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="modelyard-metrics-"))
        uvicorn.run("gateway.proxy.app:app_from_env", factory=True, workers=workers, **options)
        return
    from gateway.proxy.app import create_app

    app = create_app(catalog=None if snapshot is not None else source, snapshot=snapshot,
                     no_auth=no_auth, usage_log=usage_log, metrics=metrics)
    uvicorn.run(app, **options)
