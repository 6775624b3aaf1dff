"""`modelyard site`: a static, offline site of the catalog built from its compiled snapshot.

    from gateway.site import build_site
    report = build_site(snapshot, Path("site"), include_internal=False, include_private=False)

Pages: index.html (the model list: search, filters, sorting), models/<name>.html (one per
model), prices.html (price comparison), capabilities.html (models × capabilities). Every
link is relative and the only assets are assets/site.css and assets/site.js, so the folder
works from file:// and from any static host.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gateway.catalog.snapshot import Snapshot
from gateway.site.list_page import render_list
from gateway.site.model_page import render_model
from gateway.site.tables import render_capabilities, render_prices
from gateway.site.view import site_view

__all__ = ["SiteReport", "build_site"]

ASSETS = ("site.css", "site.js")


@dataclass(frozen=True, slots=True)
class SiteReport:
    models: int
    pages: int
    bytes: int


def build_site(
    snapshot: Snapshot, out: Path, *, include_internal: bool = False, include_private: bool = False
) -> SiteReport:
    """Write the site into `out` (created; the pages and assets it writes are replaced,
    model pages of models no longer published are removed)."""
    site = site_view(snapshot, include_internal=include_internal, include_private=include_private)
    pages = {
        "index.html": render_list(site),
        "prices.html": render_prices(site),
        "capabilities.html": render_capabilities(site),
    }
    for view in site.models:
        pages[f"models/{view.slug}.html"] = render_model(site, view)
    models_dir = out / "models"
    if models_dir.is_dir():
        shutil.rmtree(models_dir)
    (out / "assets").mkdir(parents=True, exist_ok=True)
    models_dir.mkdir()
    written = 0
    for rel, text in pages.items():
        data = text.encode()
        (out / rel).write_bytes(data)
        written += len(data)
    static = resources.files("gateway.site") / "static"
    for name in ASSETS:
        data = (static / name).read_bytes()
        (out / "assets" / name).write_bytes(data)
        written += len(data)
    return SiteReport(len(site.models), len(pages), written)
