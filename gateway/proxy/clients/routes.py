"""The paths of the client schemas other than chat, and which handler answers each.

Each sets its error shape on the exchange first, so that every refusal (a missing key
included) reaches the client in the shape its SDK reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import InvalidRequest, UnknownURL
from gateway.proxy.exchange import Exchange

if TYPE_CHECKING:
    from gateway.proxy.app import ProxyApp

MESSAGES_PATHS = ("/v1/messages", "/v1/messages/count_tokens")


async def dispatch(app: ProxyApp, ex: Exchange, method: str, path: str) -> None:
    if path.startswith("/v1/messages"):
        from gateway.proxy.clients import messages

        ex.error_body = messages.API.error
        if path == "/v1/messages" and method == "POST":
            return await messages.handle(app, ex)
        if path == "/v1/messages/count_tokens" and method == "POST":
            return await messages.count_tokens(app, ex)
        raise refusal(method, path, MESSAGES_PATHS)
    from gateway.proxy.clients import responses as responses_api

    return await responses_api.dispatch(app, ex, method, path)


def refusal(method: str, path: str, known: tuple[str, ...]) -> InvalidRequest | UnknownURL:
    if path in known:
        return InvalidRequest(f"method {method} is not allowed on {path}",
                              code="method_not_allowed")
    return UnknownURL(f"Unknown request URL: {method} {path}")
