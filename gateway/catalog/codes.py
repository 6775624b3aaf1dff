"""The one table of diagnostic codes: stable identifiers, severity, and what each means.

Ranges: MY1xx loading files, MY2xx schema, MY3xx references and names, MY4xx semantic
lints, MY5xx secrets. Codes are never reused; a retired code stays listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.diagnostics import ERROR, WARNING

#: code -> (default severity, one-line title shown in the README table)
CODES: Mapping[str, tuple[str, str]] = MappingProxyType({
    # --- MY1xx: loading files ---
    # --- MY2xx: schema ---
    # --- MY3xx: references and names ---
    # --- MY4xx: semantic lints ---
    # --- MY5xx: secrets ---
})

__all__ = ["CODES", "ERROR", "WARNING"]
