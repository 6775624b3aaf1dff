"""modelyard's library: one public surface over the catalog pipeline and its snapshot.

Names are imported on first use, so `import gateway.proxy...` does not pay for the
compiler (YAML, JSON Schema) in a process that only serves a snapshot.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if os.environ.get("MODELYARD_SOURCES"):  # the Python sources, not the compiled build
    from gateway.compiled import prefer_sources

    prefer_sources()

#: public name -> the module that defines it
_EXPORTS = {
    "CODES": "gateway.catalog.codes",
    "BuildResult": "gateway.catalog.compile",
    "build": "gateway.catalog.compile",
    "check_documents": "gateway.catalog.compile",
    "compile_catalog": "gateway.catalog.compile",
    "compile_documents": "gateway.catalog.compile",
    "snapshot_bytes": "gateway.catalog.compile",
    "write_snapshot": "gateway.catalog.compile",
    "Document": "gateway.catalog.document",
    "Catalog": "gateway.catalog.link",
    "link": "gateway.catalog.link",
    "lint": "gateway.catalog.lint",
    "ModelQuery": "gateway.catalog.listing",
    "ModelRow": "gateway.catalog.listing",
    "list_models": "gateway.catalog.listing",
    "load_catalog": "gateway.catalog.load",
    "validate_documents": "gateway.catalog.schema",
    "Snapshot": "gateway.catalog.snapshot",
    "canonical_json": "gateway.catalog.snapshot",
    "digest_of": "gateway.catalog.snapshot",
    "Diagnostic": "gateway.diagnostics",
    "render": "gateway.diagnostics",
    "CatalogError": "gateway.errors",
    "ModelyardError": "gateway.errors",
    "ProxyError": "gateway.errors",
}

__all__ = [  # the same names as _EXPORTS, spelled out for tools that read it statically
    "BuildResult",
    "CODES",
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
    "validate_documents",
    "write_snapshot",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
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
    from gateway.catalog.schema import validate_documents
    from gateway.catalog.snapshot import Snapshot, canonical_json, digest_of
    from gateway.diagnostics import Diagnostic, render
    from gateway.errors import CatalogError, ModelyardError, ProxyError
