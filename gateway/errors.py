"""The one exception tree of modelyard; each proxy error knows its OpenAI error shape."""

from __future__ import annotations

from typing import Any


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""


class CatalogError(ModelyardError):
    """A catalog or snapshot could not be loaded; carries the diagnostics that say why."""

    def __init__(self, message: str, diagnostics: tuple = ()) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class ProxyError(ModelyardError):
    """An error answered to a client in OpenAI's error shape."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(ProxyError):
    """The request is malformed or asks for something the model cannot do (400)."""

    status = 400
    type = "invalid_request_error"


class CapabilityMissing(InvalidRequest):
    """The request needs a capability the model lacks (400, code names the capability)."""

    code = "capability_not_supported"


class AuthenticationFailed(ProxyError):
    """No key, or a key no consumer holds (401)."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(ProxyError):
    """The consumer is known but may not do this (403)."""

    status = 403
    type = "invalid_request_error"
    code = "permission_denied"


class ModelNotFound(ProxyError):
    """Unknown, inactive or invisible model: all look the same to the client (404)."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class UnknownURL(ProxyError):
    """No endpoint at this path (404)."""

    status = 404
    type = "invalid_request_error"
    code = "unknown_url"


class NotFound(ProxyError):
    """A stored object (a video job) the consumer does not have: unknown and someone else's
    look the same (404)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class HeadersTooLarge(ProxyError):
    """Too many or too large request headers (431)."""

    status = 431
    type = "invalid_request_error"
    code = "request_headers_too_large"


class InternalError(ProxyError):
    """An unexpected failure inside the proxy (500); the message names the request id."""

    code = "internal_error"


class RequestTooLarge(ProxyError):
    """The request body exceeds the configured limit (413)."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class NoChannelAvailable(ProxyError):
    """Every channel of the model was filtered out (503)."""

    status = 503
    type = "server_error"
    code = "no_channel_available"


class CircuitOpen(NoChannelAvailable):
    """Every remaining channel of the model has an open circuit (503)."""

    code = "circuit_open"


class AmbiguousFraming(InvalidRequest):
    """Both Content-Length and Transfer-Encoding: a smuggling attempt; the connection is
    closed after this answer (400)."""

    code = "ambiguous_framing"


class RequestTimeout(ProxyError):
    """The client did not send its request head or body in time (408)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class ServerOverloaded(ProxyError):
    """This process holds as many connections as it may; try another replica (503)."""

    status = 503
    type = "server_error"
    code = "server_overloaded"


class NotReady(ProxyError):
    """No snapshot has been loaded yet (503)."""

    status = 503
    type = "server_error"
    code = "not_ready"


class UpstreamError(ProxyError):
    """An upstream attempt failed. `retryable` tells the router whether to fail over."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
        retryable: bool | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.upstream_body = body

    def body(self) -> dict[str, Any]:
        # An upstream 4xx is the client's own mistake: pass the upstream's error through,
        # already converted to OpenAI's shape by the adapter.
        if self.upstream_body is not None and not self.retryable:
            return self.upstream_body
        return super().body()


class UpstreamConnectError(UpstreamError):
    """The upstream could not be reached (connection refused, DNS, TLS)."""

    code = "upstream_connect_error"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    status = 504
    code = "upstream_timeout"


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an error status; 429 and 5xx are retryable, 4xx are not."""


class UpstreamProtocolError(UpstreamError):
    """The upstream answered something its protocol does not allow (bad JSON, cut stream)."""

    code = "upstream_protocol_error"


class DeadlineExceeded(UpstreamTimeout):
    """The total deadline of the request ran out across all attempts."""

    code = "deadline_exceeded"
    retryable = False


class RateLimited(ProxyError):
    """A quota's requests, tokens or concurrency limit refused the request (429); `type`
    says which, as OpenAI's does ("requests" or "tokens")."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, kind: str = "requests", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.type = kind


class QuotaExceeded(ProxyError):
    """A spend budget of a quota is used up (429, OpenAI's insufficient_quota)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class QuotaStateUnavailable(ProxyError):
    """The quota state backend is unreachable and quotas fail closed (503)."""

    status = 503
    type = "server_error"
    code = "quota_state_unavailable"


class DocumentsUnavailable(ProxyError):
    """Stored responses or video jobs cannot be read or written: the state backend that
    holds them is unreachable (503)."""

    status = 503
    type = "server_error"
    code = "state_unavailable"
