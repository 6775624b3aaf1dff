"""Who is calling: the consumer whose key digest matches the request's key."""

from __future__ import annotations

import hashlib
import hmac
import logging

from gateway.catalog.snapshot import Consumer, Snapshot
from gateway.errors import AuthenticationFailed

log = logging.getLogger("modelyard.proxy")

#: The consumer of every request when auth is switched off for local development.
ANONYMOUS = Consumer(
    name="anonymous",
    status="active",
    key_sha256=(),
    owner=None,
    orgs=frozenset(),
    scopes=frozenset({"public"}),
    max_data_destination="overseas",
    models=None,
)


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key of a request: `Authorization: Bearer KEY`, else `x-api-key: KEY`.

    A header given twice is refused: which copy counts would depend on who reads it.
    """
    bearer = api_key = None
    seen: set[bytes] = set()
    for name, value in headers:
        if name == b"authorization" or name == b"x-api-key":
            if name in seen:
                raise AuthenticationFailed(f"{name.decode()} was sent more than once")
            seen.add(name)
            text = value.decode("latin-1").strip()
            if name == b"x-api-key":
                api_key = text or None
                continue
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip()
    return bearer or api_key


def authenticate(snapshot: Snapshot, headers: list[tuple[bytes, bytes]]) -> Consumer:
    """The active consumer holding the presented key, or AuthenticationFailed (401)."""
    key = presented_key(headers)
    if key is None:
        raise AuthenticationFailed("missing API key: send Authorization: Bearer <key>")
    digest = hashlib.sha256(key.encode()).hexdigest()
    consumer = snapshot.consumers_by_key.get(digest)
    # The lookup is by digest, so it reveals nothing about the key; compare_digest keeps the
    # final check constant-time should the lookup ever become a prefix or range search.
    if (
        consumer is None
        or consumer.status != "active"
        or not any(hmac.compare_digest(digest, k.lower()) for k in consumer.key_sha256)
    ):
        raise AuthenticationFailed("invalid API key")
    return consumer


def warn_no_auth() -> None:
    log.warning(
        "auth is switched off (--no-auth): every request acts as an anonymous "
        "consumer with the public scope; never do this outside local development"
    )
