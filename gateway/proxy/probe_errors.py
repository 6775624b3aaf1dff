"""Why a probe failed: the outcome names, the upstream's own error text, and its classification."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.errors import ProxyError, UpstreamError, UpstreamTimeout
from gateway.proxy.adapters.base import HandshakeRefused, UpstreamHTTP, UpstreamResponse
from gateway.proxy.sse import decode
from gateway.usage.redact import sanitize

USABLE, ERROR, TIMEOUT = "usable", "error", "timeout"
UNSUPPORTED, UNAVAILABLE, SKIPPED = "unsupported", "unavailable", "skipped"
OUTCOMES = (USABLE, ERROR, TIMEOUT, UNSUPPORTED, UNAVAILABLE, SKIPPED)

#: Error codes with which upstreams say they do not know or serve the model.
MODEL_REJECTED = frozenset(
    {
        "model_not_found",
        "unsupported_model",
        "model_not_supported",
        "invalidendpointormodel.notfound",
        "deploymentnotfound",
    }
)


class _ReadResponse:
    """An error response whose body was read once, so the adapter and the probe both see it."""

    def __init__(self, response: UpstreamResponse, body: bytes) -> None:
        self.status = response.status
        self.headers = response.headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        return json.loads(self._body)

    async def iter_bytes(self):
        yield self._body

    def iter_sse(self):
        return decode(self.iter_bytes())

    async def close(self) -> None:
        return None


class ErrorRecorder:
    """Wraps the HTTP seam for one probe, keeping the last error status and body."""

    def __init__(self, http: UpstreamHTTP) -> None:
        self.http = http
        self.status: int | None = None
        self.body: bytes | None = None

    async def request(self, method: str, url: str, **kw: Any) -> UpstreamResponse:
        response = await self.http.request(method, url, **kw)
        if response.status < 400:
            return response
        self.status, self.body = response.status, await response.read()
        return _ReadResponse(response, self.body)

    async def websocket(self, url: str, **kw: Any) -> Any:
        try:
            return await self.http.websocket(url, **kw)  # type: ignore[attr-defined]
        except HandshakeRefused as refused:
            self.status, self.body = refused.status, refused.body
            raise


def upstream_message(body: bytes | None) -> tuple[str | None, str | None]:
    """(code, message) from an upstream error body of any common shape."""
    if not body:
        return None, None
    try:
        data = json.loads(body)
    except ValueError:
        return None, body.decode("utf-8", "replace")
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, str(error)
    code = error.get("code") or error.get("status") or error.get("__type")
    message = error.get("message") or error.get("Message") or error.get("detail")
    return (None if code is None else str(code)), (None if message is None else str(message))


def classify(
    error: BaseException, recorder: ErrorRecorder, timeout_s: float, values: Sequence[str]
) -> tuple[str, str | None, str | None]:
    """(outcome, code, message) of a failed probe; `values` are secrets to mask."""
    if isinstance(error, (TimeoutError, UpstreamTimeout)):
        return TIMEOUT, "timeout", f"no answer within {timeout_s:g} s"
    if isinstance(error, UpstreamError) and recorder.status is not None:
        code, message = upstream_message(recorder.body)
        rejected = recorder.status == 404 or (code or "").lower() in MODEL_REJECTED
        return (
            UNSUPPORTED if rejected else ERROR,
            code or str(recorder.status),
            sanitize(f"{recorder.status}: {message or error.message}", values),
        )
    if isinstance(error, NotImplementedError):
        return UNSUPPORTED, "not_implemented", "the adapter does not serve this type"
    if isinstance(error, ProxyError):
        return ERROR, error.code, sanitize(error.message, values)
    return ERROR, type(error).__name__, sanitize(str(error) or type(error).__name__, values)
