"""The paths of the client schemas other than chat, and which handler answers each.

Each sets its error shape on the exchange first, so that every refusal (a missing key
included) reaches the client in the shape its SDK reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import InvalidRequest, UnknownURL
from gateway.proxy.clients import messages
from gateway.proxy.clients import responses as responses_api
from gateway.proxy.exchange import Exchange

if TYPE_CHECKING:
    from gateway.proxy.app import ProxyApp

MESSAGES_PATHS = ("/v1/messages", "/v1/messages/count_tokens")


async def dispatch(app: ProxyApp, ex: Exchange, method: str, path: str) -> None:
    """Every path here, known or not, needs a key first (in the error shape of its API)."""
    pipeline = app.pipeline
    if path.startswith("/v1/messages"):
        ex.error_body = messages.API.error
        loaded = pipeline.loaded()
        consumer = pipeline.consumer(loaded, ex)
        if path == "/v1/messages" and method == "POST":
            return await messages.handle(app, ex, loaded, consumer)
        if path == "/v1/messages/count_tokens" and method == "POST":
            return await messages.count_tokens(app, ex, loaded, consumer)
        raise refusal(method, path, MESSAGES_PATHS)
    api = responses_api.api_of(app)
    ex.error_body = api.error
    loaded = pipeline.loaded()
    consumer = pipeline.consumer(loaded, ex)
    return await responses_api.dispatch(app, ex, method, path, loaded, consumer)


def refusal(method: str, path: str, known: tuple[str, ...]) -> InvalidRequest | UnknownURL:
    if path in known:
        return InvalidRequest(
            f"method {method} is not allowed on {path}", code="method_not_allowed"
        )
    return UnknownURL(f"Unknown request URL: {method} {path}")
