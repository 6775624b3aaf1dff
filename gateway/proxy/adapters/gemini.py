"""The adapter for the Gemini API (generateContent, streamGenerateContent, batchEmbedContents).

The key travels in the `x-goog-api-key` header (provider auth `type: header`), never in the
`?key=` query, so no URL we build carries a credential. Shape conversion lives in
`gemini_convert`; this module does URLs, HTTP and errors.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.catalog.protocols import PROTOCOLS
from gateway.catalog.snapshot import NativeTool
from gateway.errors import UpstreamProtocolError
from gateway.proxy.adapters import gemini_convert as convert
from gateway.proxy.adapters.base import Call, Reply, UpstreamResponse
from gateway.proxy.adapters.openai import OpenAICompatible, parse_retry_after
from gateway.proxy.native_tools import spelling as native_spelling

#: Google RPC statuses to OpenAI error types, for the errors passed to the client.
ERROR_TYPES: Mapping[str, str] = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "NOT_FOUND": "invalid_request_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "PERMISSION_DENIED": "invalid_request_error",
}

#: Error reasons that mean our credentials are wrong even though the status says 400.
CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"})

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"


_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")


def model_path(call: Call) -> str:
    name = call.channel.upstream_model
    return name if "/" in name else f"models/{name}"


def _error(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, list) and error:  # some Google front ends wrap it in a list
        error = error[0].get("error") if isinstance(error[0], dict) else None
    return error if isinstance(error, dict) else {}


def _reasons(error: Mapping[str, Any]) -> set[str]:
    return {str(d.get("reason")) for d in error.get("details") or () if isinstance(d, dict)}


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """RetryInfo.retryDelay ("37s") from the error details."""
    for detail in error.get("details") or ():
        match = _SECONDS.match(str((detail or {}).get("retryDelay", "")))
        if match:
            return float(match[1])
    return None


class GeminiAdapter(OpenAICompatible):
    """OpenAI chat and embeddings over the Gemini API."""

    protocol = "gemini"
    endpoints = PROTOCOLS["gemini"].endpoints

    def url(self, call: Call) -> str:
        base = (call.provider.base_url or DEFAULT_BASE_URL).rstrip("/") + "/" + model_path(call)
        if call.endpoint == "embeddings":
            return base + ":batchEmbedContents"
        return base + (":streamGenerateContent?alt=sse" if call.stream else ":generateContent")

    def shape_body(self, call: Call) -> dict[str, Any]:
        if call.endpoint == "embeddings":
            return convert.embed_requests(call, model_path(call))
        return convert.request_body(call)

    def error_body(self, status: int, raw: bytes) -> dict[str, Any]:
        """Google's error in OpenAI's shape; `code` is the RPC status (lowercase)."""
        error = _error(raw)
        rpc = str(error.get("status") or "")
        return {
            "error": {
                "message": str(error.get("message") or f"upstream answered {status}"),
                "type": ERROR_TYPES.get(rpc, "invalid_request_error"),
                "param": None,
                "code": rpc.lower() or None,
            }
        }

    def error_status(self, status: int, raw: bytes) -> int:
        # An invalid key is answered 400 by Gemini: it is the channel's, not the client's.
        return 401 if _reasons(_error(raw)) & CREDENTIAL_REASONS else status

    def retry_after(self, response: UpstreamResponse, raw: bytes) -> float | None:
        return parse_retry_after(response.headers.get("retry-after")) or _retry_delay(_error(raw))

    async def send(self, call: Call) -> Reply:
        data = await (await self._post(call)).json()
        if not isinstance(data, dict):
            raise UpstreamProtocolError("upstream gemini answered JSON that is not an object")
        if call.endpoint == "embeddings":
            return Reply(
                body=convert.embedding_list(
                    data, model=call.body["model"], encoding=call.body.get("encoding_format")
                )
            )
        body = convert.completion(data, model=call.body["model"], created=int(time.time()))
        calls = native_tool_calls(tools_used(data), call.native_tools)
        if calls and "usage" in body:
            body["usage"]["native_tool_calls"] = calls
        return Reply(body=body)

    async def stream(self, call: Call) -> AsyncIterator[Mapping[str, Any]]:
        response = await self._post(call)
        converter = convert.ChunkConverter(model=call.body["model"], created=int(time.time()))
        try:
            async for chunk in convert_events(response.iter_sse(), converter, call.native_tools):
                yield chunk
        finally:
            await response.close()


def tools_used(data: Mapping[str, Any], used: dict[str, int] | None = None) -> dict[str, int]:
    """Gemini's native tools used in one answer (or stream event), by Gemini's tool name,
    added to `used`: a grounded answer (`groundingMetadata` with search queries) is one
    search, each `executableCode` part one code execution, `urlContextMetadata` one URL
    context call."""
    used = {} if used is None else used
    for candidate in data.get("candidates") or ():
        if not isinstance(candidate, Mapping):
            continue
        if (candidate.get("groundingMetadata") or {}).get("webSearchQueries"):
            used["google_search"] = 1
        if candidate.get("urlContextMetadata"):
            used["url_context"] = 1
        parts = (candidate.get("content") or {}).get("parts") or ()
        runs = sum(1 for p in parts if isinstance(p, Mapping) and "executableCode" in p)
        if runs:
            used["code_execution"] = used.get("code_execution", 0) + runs
    return used


def native_tool_calls(used: Mapping[str, int], natives: Mapping[str, NativeTool]) -> dict[str, int]:
    """`used` (by Gemini's tool name) by the catalog's name of each requested native tool."""
    out: dict[str, int] = {}
    for name, tool in natives.items():
        spelled = native_spelling(tool, "gemini") or {}
        for key in spelled:
            if key in used:
                out[name] = used[key]
    return out


async def convert_events(
    events: AsyncIterator[tuple[str | None, str]],
    converter: convert.ChunkConverter,
    natives: Mapping[str, NativeTool] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """chat.completion.chunks from Gemini's SSE events; a stream that never finished was cut.
    The native tools used (of `natives`) ride in the last chunk's usage."""
    used: dict[str, int] = {}
    async for _event, data in events:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError("upstream gemini sent an unreadable event") from exc
        if not isinstance(event, dict) or "error" in event:
            raise UpstreamProtocolError("upstream gemini ended its stream with an error")
        if natives:
            tools_used(event, used)
        for chunk in converter.feed(event):
            yield chunk
    if not converter.finished:
        raise UpstreamProtocolError("upstream gemini stream ended before the answer did")
    calls = native_tool_calls(used, natives or {})
    for chunk in converter.end():
        if calls and chunk.get("usage"):
            chunk["usage"]["native_tool_calls"] = calls
        yield chunk


ADAPTER = GeminiAdapter
