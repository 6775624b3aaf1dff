"""The paths of the client schemas other than chat, and which handler answers each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import InvalidRequest, UnknownURL
from gateway.proxy.handlers import Exchange

if TYPE_CHECKING:
    from gateway.proxy.handlers import Handlers



async def dispatch(handlers: Handlers, ex: Exchange, method: str, path: str) -> None:
    if path.startswith("/v1/messages"):
        from gateway.proxy.clients import endpoint, messages

        if path == "/v1/messages" and method == "POST":
            return await messages.handle(handlers, ex)
        if path == "/v1/messages/count_tokens" and method == "POST":
            return await messages.count_tokens(handlers, ex)
        error = _refusal(method, path, ("/v1/messages", "/v1/messages/count_tokens"))
        return await endpoint.respond_error(ex, messages.API, error)
    from gateway.proxy.clients import responses as responses_api

    return await responses_api.dispatch(handlers, ex, method, path)


def _refusal(method: str, path: str, known: tuple[str, ...]) -> InvalidRequest | UnknownURL:
    if path in known:
        return InvalidRequest(f"method {method} is not allowed on {path}",
                              code="method_not_allowed")
    return UnknownURL(f"Unknown request URL: {method} {path}")
