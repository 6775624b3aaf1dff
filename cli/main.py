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

#: Where each command is documented; `--help` ends with the link.
DOCS = "docs/ in the modelyard repository (README.md has the map)"
PAGES = {
    "validate": "docs/cli.md",
    "compile": "docs/cli.md",
    "models": "docs/cli.md",
    "serve": "docs/proxy.md",
    "route": "docs/proxy.md",
    "diff": "docs/review.md",
    "probe": "docs/probe-status.md",
    "status": "docs/probe-status.md",
    "site": "docs/console.md",
    "import": "docs/review.md",
}

app = typer.Typer(
    name="modelyard",
    help="Model management for LLM APIs, done as code.",
    epilog=f"Documentation: {DOCS}. Commands: docs/cli.md; catalog: docs/catalog.md; "
    "proxy API: docs/proxy.md; diagnostic codes: docs/diagnostics.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _see(command: str) -> str:
    return f"Documentation: {PAGES[command]} in the modelyard repository."


app.command("validate", epilog=_see("validate"))(catalog_cmds.validate)
app.command("compile", epilog=_see("compile"))(catalog_cmds.compile_)
app.command("models", epilog=_see("models"))(catalog_cmds.models)
app.command("serve", epilog=_see("serve"))(serve_cmd.serve)
app.command("route", epilog=_see("route"))(route_cmd.route)
app.command("diff", epilog=_see("diff"))(diff_cmd.diff)
app.command("probe", epilog=_see("probe"))(probe_cmd.probe)
app.command("status", epilog=_see("status"))(status_cmd.status)
app.command("site", epilog=_see("site"))(site_cmd.site)
app.add_typer(import_cmd.app, name="import", epilog=_see("import"))

if __name__ == "__main__":
    app()
