"""Masking of secret-looking values so no diff output ever carries a credential."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# Well-known credential shapes, and long mixed-case alphanumeric runs that read as random keys.
_KEY_PREFIXES = re.compile(
    r"^(sk|pk|rk)[-_]\S{8,}$|^AKIA[0-9A-Z]{12,}$|^gh[pousr]_\S{16,}$|^xox[abpr]-\S+$|^AIza\S{20,}$"
)
_RANDOM_RUN = re.compile(r"^[A-Za-z0-9+/=_-]{32,}$")


def looks_like_key(value: Any) -> bool:
    """Whether a value reads like a credential (a bare API key or token)."""
    if not isinstance(value, str):
        return False
    if _KEY_PREFIXES.match(value):
        return True
    return bool(_RANDOM_RUN.match(value)) and (
        any(c.isupper() for c in value) and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )


def is_secret_path(kind: str, path: tuple[str, ...]) -> bool:
    """Fields whose values are never shown: everything under a provider's auth but its type."""
    return kind == "provider" and len(path) >= 2 and path[0] == "auth" and path[1] != "type"


def short_hash(digest: str) -> str:
    """A key hash shortened to tell keys apart without printing a key-like value."""
    return f"sha256:{digest[:8]}…"


def mask_value(kind: str, path: tuple[str, ...], value: Any) -> Any:
    """The value as it may be shown for the field at `path` of an entity of `kind`."""
    if value is None:
        return None
    if is_secret_path(kind, path):
        return MASK
    if kind == "consumer" and path[:1] == ("key_sha256",):
        return [short_hash(h) for h in value] if isinstance(value, list) else short_hash(value)
    if isinstance(value, dict):
        return {k: mask_value(kind, (*path, k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(kind, path, v) for v in value]
    return MASK if looks_like_key(value) else value
