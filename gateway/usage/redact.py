"""Shortening upstream error messages into text safe to show: no keys, no credentialed URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from gateway.masking import MASK, looks_like_key

MAX_CHARS = 200

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>)\]]+")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+")
_ASSIGNED = re.compile(
    r"(?i)\b([\w-]*(?:key|token|secret|password|signature|credential))"
    r"(\"?\s*[:=]\s*\"?)([^\s\"'&,;}]+)"
)
_WORD = re.compile(r"[A-Za-z0-9+/=_-]{8,}")


def _origin(match: re.Match[str]) -> str:
    # Userinfo, paths and query strings can all carry credentials; the host is enough to act on.
    parts = urlsplit(match.group(0))
    host = parts.hostname or "host"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if _has_port(parts) else "")


def _has_port(parts) -> bool:
    try:
        return parts.port is not None
    except ValueError:
        return False


def sanitize(text: str | None, secrets: Iterable[str] = (), limit: int = MAX_CHARS) -> str | None:
    """`text` with secret values, auth headers, key-like words and URL details masked,
    on one line and at most `limit` characters."""
    if text is None:
        return None
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL.sub(_origin, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _WORD.sub(lambda m: MASK if looks_like_key(m.group(0)) else m.group(0), text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
