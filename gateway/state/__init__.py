"""Runtime state kept apart from the snapshot: quota counters, circuit openings, documents.

state = open_state(None)                          # embedded: this process only
state = open_state("redis://127.0.0.1:6379/0")    # shared by every worker and replica
"""

from __future__ import annotations

from gateway.state.base import (
    CONCURRENT,
    NANOS,
    SPEND,
    WINDOW,
    Admission,
    Check,
    Reading,
    Settlement,
    StateBackend,
    StateUnavailable,
)
from gateway.state.documents import DocumentStore, SQLiteDocuments, open_documents
from gateway.state.embedded import EmbeddedState
from gateway.state.redis_documents import RedisDocuments
from gateway.state.redis_link import RedisLink
from gateway.state.window import Window, duration

#: The environment variable `serve --state` falls back to.
STATE_ENV = "MODELYARD_STATE"
SCHEMES = ("redis://", "rediss://", "unix://")


def open_state(url: str | None, *, timeout_s: float = 0.05) -> StateBackend:
    """The backend a `--state` value names: empty or "embedded", or a Redis URL."""
    if not url or url == "embedded":
        return EmbeddedState()
    if url.startswith(SCHEMES):
        from gateway.state.redis_backend import RedisState

        return RedisState(url, timeout_s=timeout_s)
    raise ValueError(
        f"--state must be `embedded` or a Redis URL ({', '.join(SCHEMES)}...), "
        f"not {url.split('://')[0]!r}"
    )


__all__ = [
    "CONCURRENT",
    "NANOS",
    "SCHEMES",
    "SPEND",
    "STATE_ENV",
    "WINDOW",
    "Admission",
    "Check",
    "DocumentStore",
    "EmbeddedState",
    "Reading",
    "RedisDocuments",
    "RedisLink",
    "SQLiteDocuments",
    "Settlement",
    "StateBackend",
    "StateUnavailable",
    "Window",
    "duration",
    "open_documents",
    "open_state",
]
