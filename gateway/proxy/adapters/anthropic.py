"""The Anthropic Messages API adapter: OpenAI chat requests, answers, streams and errors converted."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

from gateway.catalog.protocols import PROTOCOLS
from gateway.catalog.snapshot import NativeTool
from gateway.errors import UpstreamProtocolError, UpstreamStatusError
from gateway.proxy import native_tools
from gateway.proxy.adapters import anthropic_messages as am
from gateway.proxy.adapters.base import (
    Adapter,
    Call,
    NativeEvent,
    Reply,
    UpstreamResponse,
    auth_headers,
)
from gateway.proxy.adapters.openai import parse_retry_after
from gateway.proxy.upstream_errors import status_error

API_VERSION = "2023-06-01"

#: Anthropic error types to the HTTP status they stand for, for errors met inside a stream.
ERROR_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

_NO_NATIVES: Mapping[str, NativeTool] = MappingProxyType({})
_TOOL_VERSION = re.compile(r"_\d{8}$")  # web_search_20250305 -> web_search


def build_request(call: Call, *, stream: bool) -> dict[str, Any]:
    """The Messages API request body for an OpenAI chat call."""
    body = call.body
    system, messages = am.conversation(body)
    limit = am.max_tokens(call)
    out: dict[str, Any] = {
        "model": call.channel.upstream_model,
        "messages": messages,
        "max_tokens": limit,
    }
    if system:
        out["system"] = "\n\n".join(system)
    if stop := am.stop_sequences(body):
        out["stop_sequences"] = stop
    budget = am.thinking_budget(call, limit)
    if budget is not None:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        # Anthropic's temperature range is 0..1 where OpenAI's is 0..2; thinking allows none.
        if body.get("temperature") is not None:
            out["temperature"] = min(float(body["temperature"]), 1.0)
        if body.get("top_p") is not None:
            out["top_p"] = body["top_p"]
    out.update(_tools(call))
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    if stream:
        out["stream"] = True
    return out


def _tools(call: Call) -> dict[str, Any]:
    functions, natives = am.function_tools(call.body, call.native_tools, "anthropic")
    tools = [*functions, *(dict(n) for n in natives)]
    if not tools:
        return {}
    kind, name = am.tool_choice(call.body)
    choice: dict[str, Any] = {"type": kind}
    if name:
        choice["name"] = name
    if call.body.get("parallel_tool_calls") is False and kind != "none":
        choice["disable_parallel_tool_use"] = True
    return {"tools": tools, "tool_choice": choice}


def headers(call: Call) -> dict[str, str]:
    """Request headers: version, the provider's and channel's extra headers, then auth."""
    out = {
        "anthropic-version": call.channel.options.get("api_version") or API_VERSION,
        "content-type": "application/json",
    }
    out.update(call.provider.headers)
    out.update(call.channel.options.get("headers") or {})
    out.update(auth_headers(call.secrets))  # last: catalog headers cannot replace auth
    return out


def url(call: Call, path: str = "/v1/messages") -> str:
    base = (call.provider.base_url or "https://api.anthropic.com").rstrip("/")
    return f"{base.removesuffix('/v1')}{path}"


#: The native client protocols and the upstream path each goes to.
NATIVE_PATHS: Mapping[str, str] = {
    "messages": "/v1/messages",
    "messages.count_tokens": "/v1/messages/count_tokens",
}
#: Client headers of the Messages API forwarded to the upstream as they are.
FORWARDED = ("anthropic-version", "anthropic-beta")


def native_request(call: Call, *, stream: bool) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and body of a Messages request passed through: the client's body with
    the channel's upstream model, the client's version and beta headers."""
    native = call.native
    assert native is not None
    out = headers(call)
    for name in FORWARDED:
        if value := native.headers.get(name):
            out[name] = value
    body = dict(native.body)
    body["model"] = call.channel.upstream_model
    body.pop("stream", None)
    if stream:
        body["stream"] = True
    return url(call, NATIVE_PATHS[native.protocol]), out, body


async def native_events(
    pairs: AsyncIterator[tuple[str | None, str]], call: Call
) -> AsyncIterator[NativeEvent]:
    """The upstream's Messages events, (event name, JSON data) as they arrive, passed on as
    they are but for the model name in message_start (the client sees the name it asked
    for) and errors, raised for the proxy to handle."""
    model = call.body["model"]
    async for name, data in pairs:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(
                f"upstream {call.provider.name} sent an unreadable event"
            ) from exc
        kind = event.get("type")
        if kind == "error":
            raise stream_error(event.get("error") or {}, call.provider.name)
        if kind == "message_start" and isinstance(event.get("message"), dict):
            event["message"]["model"] = model
            yield NativeEvent(name, json.dumps(event, ensure_ascii=False).encode(), event)
            continue
        yield NativeEvent(name, data.encode(), event)
        if kind == "message_stop":
            return
    raise UpstreamProtocolError(
        f"upstream {call.provider.name} ended the stream before message_stop"
    )


def usage_of(
    usage: Mapping[str, Any], natives: Mapping[str, NativeTool] = _NO_NATIVES
) -> dict[str, Any]:
    """OpenAI usage, with the server tools Anthropic ran as `native_tool_calls`."""
    out = am.openai_usage(
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        usage.get("cache_read_input_tokens") or 0,
        usage.get("cache_creation_input_tokens") or 0,
    )
    if calls := native_tool_calls(usage.get("server_tool_use"), natives):
        out["native_tool_calls"] = calls
    return out


def native_tool_calls(counts: Any, natives: Mapping[str, NativeTool]) -> dict[str, int]:
    """Anthropic's server tool counts (`web_search_requests`: 2) by catalog native tool name.

    Anthropic counts under its own tool name; the requested native tool whose Anthropic
    spelling carries that name is the one billed. A count no requested tool explains keeps
    Anthropic's name, so the usage log still shows it though nothing prices it.
    """
    if not isinstance(counts, Mapping):
        return {}
    names = {
        _anthropic_name(spelled): name
        for name, tool in natives.items()
        if (spelled := native_tools.spelling(tool, "anthropic")) is not None
    }
    out: dict[str, int] = {}
    for key, count in counts.items():
        if not key.endswith("_requests") or not isinstance(count, int) or count <= 0:
            continue
        upstream = key.removesuffix("_requests")
        name = names.get(upstream, upstream)
        out[name] = out.get(name, 0) + count
    return out


def _anthropic_name(spelling: Mapping[str, Any]) -> str:
    return spelling.get("name") or _TOOL_VERSION.sub("", str(spelling.get("type", "")))


def to_openai(
    message: Mapping[str, Any],
    *,
    model: str,
    created: int,
    natives: Mapping[str, NativeTool] = _NO_NATIVES,
) -> dict[str, Any]:
    """An OpenAI chat.completion from an Anthropic message."""
    text, reasoning, calls = [], [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "thinking":
            reasoning.append(block.get("thinking", ""))
        elif kind == "tool_use":
            calls.append(am.tool_call(block["id"], block["name"], block.get("input") or {}))
        # server tool blocks (web search and its results) ran upstream: their outcome is
        # already in the text that follows them.
    return am.completion(
        id=message.get("id", ""),
        model=model,
        created=created,
        text="".join(text),
        reasoning="".join(reasoning),
        tool_calls=calls,
        stop_reason=message.get("stop_reason"),
        usage=usage_of(message.get("usage") or {}, natives),
    )


def stream_error(error: Mapping[str, Any], provider: str) -> UpstreamStatusError:
    status = ERROR_STATUS.get(error.get("type", ""), 500)
    return status_error(provider, status, error.get("message") or "stream error")


async def to_chunks(
    events: AsyncIterator[tuple[str | None, str]],
    *,
    model: str,
    created: int,
    provider: str,
    natives: Mapping[str, NativeTool] = _NO_NATIVES,
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunks from Anthropic's server-sent events."""
    writer: am.ChunkWriter | None = None
    usage: dict[str, Any] = {}
    async for _, data in events:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"upstream {provider} sent an unreadable event") from exc
        kind = event.get("type")
        if kind == "error":
            raise stream_error(event.get("error") or {}, provider)
        if kind == "message_start":
            message = event.get("message") or {}
            usage.update(message.get("usage") or {})
            writer = am.ChunkWriter(id=message.get("id", ""), model=model, created=created)
            yield writer.role()
            continue
        if writer is None:
            continue  # ping, or an event type added after this adapter was written
        if kind == "message_stop":
            writer.usage = usage_of(usage, natives)
            for last in writer.finish():
                yield last
            return
        if kind == "message_delta":
            writer.stop_reason = (event.get("delta") or {}).get("stop_reason", writer.stop_reason)
            usage.update(event.get("usage") or {})  # counts in message_delta are cumulative
        elif (chunk := _block_chunk(writer, event)) is not None:
            yield chunk
    raise UpstreamProtocolError(f"upstream {provider} ended the stream before message_stop")


def _block_chunk(writer: am.ChunkWriter, event: Mapping[str, Any]) -> dict[str, Any] | None:
    index = event.get("index", 0)
    if event.get("type") == "content_block_start":
        block = event.get("content_block") or {}
        if block.get("type") == "tool_use":
            return writer.tool_start(index, block.get("id", ""), block.get("name", ""))
        if block.get("type") == "text":
            return writer.text(block.get("text", ""))
        return None
    if event.get("type") == "content_block_delta":
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return writer.text(delta.get("text", ""))
        if kind == "input_json_delta":
            return writer.tool_arguments(index, delta.get("partial_json", ""))
        if kind == "thinking_delta":
            return writer.reasoning(delta.get("thinking", ""))
    return None  # content_block_stop, signature_delta, citations


async def raise_for_status(response: UpstreamResponse, call: Call) -> None:
    """Read an error answer's body; what its status means is upstream_errors' call."""
    if response.status < 300:
        return
    raw = await response.read()
    try:
        error = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message") if isinstance(error, dict) else None
    raise status_error(
        call.provider.name,
        response.status,
        message or f"status {response.status}",
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        upstream_model=call.channel.upstream_model,
    )


class AnthropicAdapter(Adapter):
    """Chat completions over Anthropic's Messages API."""

    protocol = "anthropic"
    endpoints = PROTOCOLS["anthropic"].endpoints
    native = frozenset(NATIVE_PATHS)

    async def _post(self, call: Call, *, stream: bool) -> UpstreamResponse:
        response = await self.http.request(
            "POST",
            url(call),
            headers=headers(call),
            deadline=call.deadline,
            json=build_request(call, stream=stream),
        )
        await raise_for_status(response, call)
        return response

    async def send(self, call: Call) -> Reply:
        response = await self._post(call, stream=False)
        message = await response.json()
        return Reply(
            body=to_openai(
                message,
                model=call.body["model"],
                created=int(time.time()),
                natives=call.native_tools,
            )
        )

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        response = await self._post(call, stream=True)
        try:
            async for chunk in to_chunks(
                response.iter_sse(),
                model=call.body["model"],
                created=int(time.time()),
                provider=call.provider.name,
                natives=call.native_tools,
            ):
                yield chunk
        finally:
            await response.close()

    async def _post_native(self, call: Call, *, stream: bool) -> UpstreamResponse:
        target, headers_, body = native_request(call, stream=stream)
        response = await self.http.request(
            "POST", target, headers=headers_, deadline=call.deadline, json=body
        )
        await raise_for_status(response, call)
        return response

    async def send_native(self, call: Call) -> Reply:
        response = await self._post_native(call, stream=False)
        data = await response.json()
        if not isinstance(data, dict):
            raise UpstreamProtocolError(
                f"upstream {call.provider.name} answered JSON that is not an object"
            )
        if "model" in data:
            data["model"] = call.body["model"]
        return Reply(body=data, native=True)

    async def stream_native(self, call: Call) -> AsyncIterator[NativeEvent]:
        response = await self._post_native(call, stream=True)
        try:
            async for event in native_events(response.iter_sse(), call):
                yield event
        finally:
            await response.close()


ADAPTER = AnthropicAdapter
