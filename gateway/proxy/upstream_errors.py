"""One policy for upstream error statuses, whatever the protocol: fail over or not, and what
the client is told.

Adapters only read their own error bodies (the message, an OpenAI-shaped error to pass on,
Retry-After) and hand them to `status_error`; the decision is this table's alone.

| upstream status | fail over | client sees |
|---|---|---|
| connect error, timeout | yes | 502 / 504 |
| 3xx (redirect) | yes | 502: the catalog's base_url is wrong; redirects are never followed |
| 401 | yes | 502 with our own message: it is the channel's key, not the client's |
| 404 | yes | 502 and a hint to check the channel's `upstream_model` in the catalog |
| 408, 504 | yes | 504 |
| 429 | yes | 429, with Retry-After |
| 503, 529 (overloaded) | yes | 503 |
| 500, 502, other 5xx | yes | 502 |
| 400, 403, 413, 422, other 4xx | no | the upstream's status and error, in the client's shape |

A status that fails over opens the channel's breaker when it repeats; one that goes back to
the client says the upstream is alive and counts as a success for the breaker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import UpstreamStatusError

#: Statuses that fail over to the next channel, and the status the client sees when none is
#: left.
FAILOVER: Mapping[int, int] = {408: 504, 429: 429, 500: 502, 502: 502, 503: 503, 504: 504, 529: 503}


@dataclass(frozen=True, slots=True)
class Decision:
    """What one upstream status means for routing and for the client."""

    failover: bool
    client_status: int


def decide(status: int) -> Decision:
    """The table above, as data: the one place a status is interpreted."""
    if status in FAILOVER:
        return Decision(True, FAILOVER[status])
    if status >= 500 or 300 <= status < 400 or status in (401, 404):
        return Decision(True, 502)
    return Decision(False, status)


def status_error(
    provider: str,
    status: int,
    message: str,
    *,
    body: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
    upstream_model: str | None = None,
) -> UpstreamStatusError:
    """The error to raise for an upstream answer with `status`.

    `body` is the upstream's error already in OpenAI's shape (`{"error": {...}}`); it reaches
    the client only for statuses that do not fail over. `message` comes from the upstream
    and is shown only where the client's own request is at fault.
    """
    decision = decide(status)
    if not decision.failover:
        return UpstreamStatusError(
            message,
            status=status,
            retryable=False,
            body=dict(body) if body is not None else _openai(message),
        )
    if status == 401:
        text = (
            f"upstream {provider} refused the channel's credentials (status 401); "
            "check the provider's auth in the catalog"
        )
    elif status == 404:
        model = f" `{upstream_model}`" if upstream_model else ""
        text = (
            f"upstream {provider} does not know the model{model} (status 404); check the "
            "channel's upstream_model and the provider's base_url in the catalog"
        )
    elif 300 <= status < 400:
        text = (
            f"upstream {provider} answered a redirect (status {status}); redirects are "
            "not followed: check the provider's base_url in the catalog"
        )
    else:
        text = f"upstream {provider} failed with status {status}: {message}"
    return UpstreamStatusError(
        text, status=decision.client_status, retryable=True, retry_after=retry_after
    )


def _openai(message: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    }
