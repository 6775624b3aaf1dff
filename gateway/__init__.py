"""modelyard's library: the catalog pipeline and its snapshot; one public surface for it."""

from gateway.catalog.codes import CODES
from gateway.catalog.compile import (
    BuildResult,
    build,
    check_documents,
    compile_catalog,
    compile_documents,
    snapshot_bytes,
    write_snapshot,
)
from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, link
from gateway.catalog.lint import lint
from gateway.catalog.listing import ModelQuery, ModelRow, list_models
from gateway.catalog.load import load_catalog
from gateway.catalog.snapshot import Snapshot, canonical_json, digest_of
from gateway.diagnostics import Diagnostic, render
from gateway.errors import CatalogError, ModelyardError, ProxyError

__all__ = [
    "CODES",
    "BuildResult",
    "Catalog",
    "CatalogError",
    "Diagnostic",
    "Document",
    "ModelQuery",
    "ModelRow",
    "ModelyardError",
    "ProxyError",
    "Snapshot",
    "build",
    "canonical_json",
    "check_documents",
    "compile_catalog",
    "compile_documents",
    "digest_of",
    "link",
    "lint",
    "list_models",
    "load_catalog",
    "render",
    "snapshot_bytes",
    "write_snapshot",
]
