"""AWS event-stream frames of Bedrock's ConverseStream, decoded with botocore's parser."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.errors import UpstreamError, UpstreamProtocolError

INSTALL_HINT = "pip install 'modelyard[bedrock]'"

#: AWS exception names (lowercased, without the "exception" suffix) to an HTTP status.
EXCEPTION_STATUS: Mapping[str, int] = {
    # Signature and key failures are the channel's credentials: 401 whatever AWS sends.
    "validation": 400,
    "accessdenied": 403,
    "unrecognizedclient": 401,
    "invalidsignature": 401,
    "expiredtoken": 401,
    "incompletesignature": 401,
    "missingauthenticationtoken": 401,
    "resourcenotfound": 404,
    "throttling": 429,
    "servicequotaexceeded": 429,
    "modelnotready": 503,
    "serviceunavailable": 503,
    "internalserver": 502,
    "modeltimeout": 504,
    "modelerror": 502,
    "modelstreamerror": 502,
}

Event = tuple[str, str, dict[str, Any]]  # (message type, event or exception type, payload)


def require_botocore() -> Any:
    """botocore, or a clear error saying how to install the optional extra."""
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.eventstream
    except ImportError as exc:
        raise UpstreamError(
            f"the bedrock protocol needs botocore: {INSTALL_HINT}", status=502, retryable=True
        ) from exc
    return botocore


def exception_status(name: str, fallback: int = 502) -> int:
    key = name.split(":")[0].split("#")[-1].lower().removesuffix("exception")
    return EXCEPTION_STATUS.get(key, fallback)


async def events(chunks: AsyncIterator[bytes], provider: str) -> AsyncIterator[Event]:
    """Decode event-stream frames as bytes arrive; frames may be split anywhere."""
    eventstream = require_botocore().eventstream
    buffer = eventstream.EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        try:
            messages = list(buffer)
        except eventstream.ParserError as exc:
            raise UpstreamProtocolError(f"upstream {provider} sent a broken event frame") from exc
        for message in messages:
            headers = message.headers
            kind = headers.get(":message-type", "event")
            name = headers.get(":event-type") or headers.get(":exception-type") or ""
            try:
                payload = json.loads(message.payload or b"{}")
            except ValueError as exc:
                raise UpstreamProtocolError(
                    f"upstream {provider} sent an unreadable event"
                ) from exc
            yield kind, name, payload if isinstance(payload, dict) else {}
