"""The adapter for Azure OpenAI: OpenAI's shapes behind deployment URLs and Azure's errors.

Dated API versions address the deployment in the path
(`/openai/deployments/{upstream_model}/chat/completions?api-version=…`); the channel option
`api_version: v1` selects Azure's v1 API instead (`/openai/v1/chat/completions`, deployment
in the body's `model`). Auth is the provider's `api-key` header, or a bearer token (Entra ID).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from gateway.catalog.protocols import PROTOCOLS
from gateway.proxy.adapters.base import Call, UpstreamResponse
from gateway.proxy.adapters.openai import PATHS, OpenAICompatible, parse_retry_after
from gateway.proxy.adapters.openai_responses import ResponsesPassThrough

#: The latest generally available data-plane API version, used when the channel names none.
DEFAULT_API_VERSION = "2024-10-21"
V1 = "v1"
#: Realtime deployments are served by the preview API versions only, when no v1.
REALTIME_API_VERSION = "2025-04-01-preview"


def api_version(call: Call) -> str:
    return str(call.channel.options.get("api_version") or DEFAULT_API_VERSION)


def _azure_error(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def openai_error(status: int, error: Mapping[str, Any]) -> dict[str, Any]:
    """Azure's `{"error": {"code", "message", "innererror"}}` in OpenAI's error shape.

    The content filter's verdict (innererror) is kept: it tells the client what was flagged.
    """
    code = error.get("code")
    out: dict[str, Any] = {
        "message": str(error.get("message") or f"upstream answered {status}"),
        "type": "invalid_request_error",
        "param": error.get("param"),
        "code": None if code is None else str(code),
    }
    if error.get("innererror"):
        out["innererror"] = error["innererror"]
    return {"error": out}


class AzureOpenAIAdapter(ResponsesPassThrough, OpenAICompatible):
    """OpenAI-shaped requests to an Azure OpenAI resource."""

    protocol = "azure-openai"
    endpoints = PROTOCOLS["azure-openai"].endpoints

    def realtime_url(self, call: Call) -> str:
        """`/openai/realtime?api-version=…&deployment=…` (preview), or `/openai/v1/realtime`."""
        from gateway.proxy.adapters.openai_realtime import ws_base

        base = ws_base(call.provider.base_url).removesuffix("/openai")
        deployment = quote(call.channel.upstream_model, safe="")
        version = str(
            call.channel.options.get("realtime_api_version")
            or call.channel.options.get("api_version")
            or REALTIME_API_VERSION
        )
        if version == V1:
            return f"{base}/openai/v1/realtime?model={deployment}"
        return (
            f"{base}/openai/realtime?api-version={quote(version, safe='')}&deployment={deployment}"
        )

    def url(self, call: Call) -> str:
        base = (call.provider.base_url or "").rstrip("/").removesuffix("/openai")
        version = api_version(call)
        if version == V1:
            return f"{base}/openai/v1{PATHS[call.endpoint]}"
        deployment = quote(call.channel.upstream_model, safe="")
        return (
            f"{base}/openai/deployments/{deployment}{PATHS[call.endpoint]}"
            f"?api-version={quote(version, safe='')}"
        )

    def responses_url(self, call: Call) -> str:
        """Azure serves the Responses API under /openai/v1, or with a preview api-version;
        either way the deployment goes in the body's `model`."""
        base = (call.provider.base_url or "").rstrip("/").removesuffix("/openai")
        version = api_version(call)
        if version == V1:
            return f"{base}/openai/v1/responses"
        return f"{base}/openai/responses?api-version={quote(version, safe='')}"

    def shape_body(self, call: Call) -> dict[str, Any]:
        body = super().shape_body(call)
        if api_version(call) != V1:
            body.pop("model", None)  # the deployment in the path names the model
        return body

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        # Azure opens a stream with a chunk holding only the prompt's filter verdict and no
        # choices; clients that read choices[0] of every chunk would break on it.
        chunks = super().stream(call)
        try:
            async for chunk in chunks:
                if chunk.get("choices") or chunk.get("usage"):
                    yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)  # typed an iterator; it is a generator
            if aclose is not None:
                await aclose()

    def error_body(self, status: int, raw: bytes) -> dict[str, Any]:
        return openai_error(status, _azure_error(raw))

    def retry_after(self, response: UpstreamResponse, raw: bytes) -> float | None:
        return _retry_after(response.headers)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Azure sends retry-after-ms next to retry-after; the finer one wins."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


ADAPTER = AzureOpenAIAdapter
