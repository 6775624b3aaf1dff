"""`/admin/ui`: the live status page, its data, and the per-channel probe behind its buttons.

    GET  /admin/ui          the page (HTML; refreshes itself, ?refresh=SECONDS, default 5)
    GET  /admin/ui/status   the /admin/status document, for the page
    POST /admin/probe       {"channel": NAME} -> the `modelyard probe` result of that channel

Browsers cannot add a bearer token to a page they navigate to, so besides `Authorization:
Bearer KEY` and `x-api-key` these paths take HTTP Basic credentials whose password is the
key (any user name) and answer 401 with a Basic challenge: the browser asks once and sends
the key with the page's own requests. The page and its data take an admin key or the
scraper token (MODELYARD_METRICS_KEY); a probe sends a real request upstream, so it takes
an admin key only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from importlib import resources
from typing import TYPE_CHECKING

from gateway.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from gateway.proxy import auth
from gateway.proxy.admin import METRICS_KEY_ENV
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.reload import Loaded

if TYPE_CHECKING:
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.pipeline import Pipeline

#: The paths this module answers, and the method each takes.
PATHS = {"/admin/ui": "GET", "/admin/ui/status": "GET", "/admin/probe": "POST"}
CHALLENGE = {"WWW-Authenticate": 'Basic realm="modelyard admin", charset="UTF-8"'}
PROBE_TIMEOUT_S = 15.0
MAX_PROBE_BODY = 4096
#: The page runs only its own inline script and talks only to this origin.
PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; "
        b"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
        b"frame-ancestors 'none'",
    ),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


def console_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key of a console request: bearer or x-api-key, else a Basic password."""
    key = auth.presented_key(headers)
    if key is not None:
        return key
    for name, value in headers:
        if name != b"authorization":
            continue
        scheme, _, token = value.decode("latin-1").strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def authorize(
    h: Pipeline, loaded: Loaded, headers: list[tuple[bytes, bytes]], *, scraper_token: bool
) -> None:
    """Let an admin consumer through (or the scraper token, where allowed); else 401/403."""
    if h.no_auth:  # no keys at all: like /admin/status, the anonymous consumer is no admin
        raise PermissionDenied("the console needs an admin key; the proxy runs with --no-auth")
    key = console_key(headers)
    if key is None:
        raise AuthenticationFailed(
            "the console needs an admin key: send it as the Basic "
            "password or as Authorization: Bearer <key>",
            headers=CHALLENGE,
        )
    expected = os.environ.get(METRICS_KEY_ENV)
    if scraper_token and expected and hmac.compare_digest(key.encode(), expected.encode()):
        return
    try:
        consumer = auth.authenticate(
            loaded.snapshot, [(b"authorization", f"Bearer {key}".encode("latin-1"))]
        )
    except (AuthenticationFailed, UnicodeEncodeError):
        raise AuthenticationFailed("invalid API key", headers=CHALLENGE) from None
    if "admin" not in consumer.scopes:
        raise PermissionDenied("this endpoint needs a key with the admin scope")


async def handle(h: Pipeline, ex: Exchange, method: str, path: str) -> None:
    """Answer one of PATHS; who may ask is checked before anything else."""
    loaded = h.loaded()
    authorize(h, loaded, ex.headers, scraper_token=path != "/admin/probe")
    if method != PATHS[path]:
        raise InvalidRequest(f"method {method} is not allowed on {path}", code="method_not_allowed")
    if path == "/admin/ui":
        page = (resources.files("gateway.proxy") / "ui" / "status.html").read_bytes()
        await ex.respond(200, page, PAGE_HEADERS, content_type=b"text/html; charset=utf-8")
    elif path == "/admin/ui/status":
        from gateway.proxy.exchange import dumps
        from gateway.proxy.status import status_of

        await ex.respond(
            200, dumps(status_of(h.holder, h.router.stats)), [(b"cache-control", b"no-store")]
        )
    else:
        await _probe(h, ex, loaded)


async def _probe(h: Pipeline, ex: Exchange, loaded: Loaded) -> None:
    from gateway.proxy.probe import ProbeSelectionError, probe_one, select

    body = parse_json_object(await read_body(ex.receive, MAX_PROBE_BODY))
    channel = body.get("channel")
    if not isinstance(channel, str) or not channel:
        raise InvalidRequest('give the channel to probe: {"channel": NAME}', param="channel")
    try:
        (target,) = select(loaded.snapshot, (), all_models=False, channel=channel)
    except ProbeSelectionError as error:
        raise InvalidRequest(str(error), param="channel", code="unknown_channel") from None
    environ = h.holder.environ if h.holder.environ is not None else os.environ
    result = await probe_one(
        loaded.snapshot,
        target,
        h.router.http,
        environ=environ,
        timeout_s=PROBE_TIMEOUT_S,
        include_costly=body.get("include_costly") is True,
    )
    await ex.respond(200, json.dumps(result.as_dict()).encode(), [(b"cache-control", b"no-store")])
