"""Masking of secret-looking values so no diff output ever carries a credential."""

from __future__ import annotations

from typing import Any

from gateway.masking import MASK, looks_like_key

__all__ = ["MASK", "is_secret_path", "looks_like_key", "mask_value", "short_hash"]


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
