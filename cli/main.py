"""The `modelyard` command: one typer function per command, each thin over `gateway`."""

from __future__ import annotations

import typer

from cli import (
    catalog_cmds,
    diff_cmd,
    import_cmd,
    probe_cmd,
    route_cmd,
    serve_cmd,
    site_cmd,
    status_cmd,
)

app = typer.Typer(
    name="modelyard",
    help="Model management for LLM APIs, done as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("validate")(catalog_cmds.validate)
app.command("compile")(catalog_cmds.compile_)
app.command("models")(catalog_cmds.models)
app.command("serve")(serve_cmd.serve)
app.command("route")(route_cmd.route)
app.command("diff")(diff_cmd.diff)
app.command("probe")(probe_cmd.probe)
app.command("status")(status_cmd.status)
app.command("site")(site_cmd.site)
app.add_typer(import_cmd.app, name="import")

if __name__ == "__main__":
    app()
