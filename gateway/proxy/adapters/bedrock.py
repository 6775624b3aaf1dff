"""The Amazon Bedrock adapter: OpenAI chat over Converse / ConverseStream, signed with SigV4.

botocore (the optional extra `modelyard[bedrock]`) signs requests and decodes the event
stream; it is imported on first use so the rest of the proxy runs without it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import yarl

from gateway.catalog.protocols import PROTOCOLS
from gateway.catalog.snapshot import NativeTool
from gateway.errors import InvalidRequest, UpstreamProtocolError
from gateway.proxy.adapters import anthropic_messages as am
from gateway.proxy.adapters.base import Adapter, Call, NativeEvent, Reply, UpstreamResponse
from gateway.proxy.adapters.bedrock_eventstream import (
    Event,
    events,
    exception_status,
    require_botocore,
)
from gateway.proxy.adapters.bedrock_system_tools import SystemToolCount, is_system
from gateway.proxy.adapters.openai import parse_retry_after
from gateway.proxy.upstream_errors import status_error

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


# --- request ---------------------------------------------------------------------------------


def build_request(call: Call) -> dict[str, Any]:
    """The Converse request body (the same for ConverseStream) for an OpenAI chat call."""
    body = call.body
    system, turns = am.conversation(body)
    limit = am.max_tokens(call)
    out: dict[str, Any] = {
        "messages": [
            {"role": t["role"], "content": [_block(b) for b in t["content"]]} for t in turns
        ]
    }
    if system:
        out["system"] = [{"text": text} for text in system]
    config: dict[str, Any] = {"maxTokens": limit}
    if stop := am.stop_sequences(body):
        config["stopSequences"] = stop
    budget = am.thinking_budget(call, limit)
    if budget is not None:
        # Claude's thinking switch, passed through to the model; sampling stays default.
        out["additionalModelRequestFields"] = {
            "thinking": {"type": "enabled", "budget_tokens": budget}
        }
    else:
        if body.get("temperature") is not None:
            config["temperature"] = min(float(body["temperature"]), 1.0)
        if body.get("top_p") is not None:
            config["topP"] = body["top_p"]
    out["inferenceConfig"] = config
    if tools := _tool_config(call, turns):
        out["toolConfig"] = tools
    return out


def _block(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "tool_use":
        return {
            "toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}
        }
    if kind == "tool_result":
        return {
            "toolResult": {
                "toolUseId": block["tool_use_id"],
                "content": [{"text": block["content"]}],
            }
        }
    source = block["source"]
    if source["type"] != "base64":
        raise InvalidRequest("bedrock takes images as data: URLs only", param="messages")
    fmt = IMAGE_FORMATS.get(source["media_type"])
    if fmt is None:
        raise InvalidRequest(f"bedrock cannot read {source['media_type']} images", param="messages")
    # Blobs travel base64-encoded in Bedrock's JSON: the data URL's payload as it is.
    return {"image": {"format": fmt, "source": {"bytes": source["data"]}}}


def _tool_config(call: Call, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    functions, natives = am.function_tools(call.body, call.native_tools, "bedrock")
    tools: list[dict[str, Any]] = [
        {
            "toolSpec": {
                **({"description": f["description"]} if "description" in f else {}),
                "name": f["name"],
                "inputSchema": {"json": f["input_schema"]},
            }
        }
        for f in functions
    ]
    tools.extend(dict(n) for n in natives)
    if not tools:
        return None
    kind, name = am.tool_choice(call.body)
    if kind == "none":
        # Converse has no "none": leave the tools out, unless the history holds tool blocks
        # (Converse then requires toolConfig) and the model is trusted to answer in text.
        used = any(b["type"] in ("tool_use", "tool_result") for t in turns for b in t["content"])
        return {"tools": tools} if used else None
    choice = {"auto": {"auto": {}}, "any": {"any": {}}, "tool": {"tool": {"name": name}}}[kind]
    return {"tools": tools, "toolChoice": choice}


def url(call: Call, *, stream: bool) -> str:
    """The Converse URL, in the form the HTTP seam puts on the wire (so it is what we sign).

    aiohttp normalises the path (a %3A in a model id goes out as ':'); SigV4 signs the path
    exactly as sent, so the URL is normalised here first.
    """
    region = call.secrets.get("region") or call.provider.auth.get("region", "us-east-1")
    base = call.provider.base_url or f"https://bedrock-runtime.{region}.amazonaws.com"
    operation = "converse-stream" if stream else "converse"
    raw = f"{base.rstrip('/')}/model/{quote(call.channel.upstream_model, safe='')}/{operation}"
    return str(yarl.URL(raw))


def signed_headers(call: Call, target: str, payload: bytes) -> dict[str, str]:
    """Headers for the request, signed with SigV4 by botocore's signer (or carrying a
    Bedrock API key as a bearer token, which needs no signature)."""
    secrets = call.secrets
    headers = {
        **call.provider.headers,
        **(call.channel.options.get("headers") or {}),
        "Content-Type": "application/json",
    }
    if secrets.get("type") == "bearer":
        return {**headers, "Authorization": f"Bearer {secrets['token']}"}
    botocore = require_botocore()
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=target, data=payload, headers=headers
    )
    credentials = botocore.credentials.Credentials(
        secrets["access_key_id"], secrets["secret_access_key"], secrets.get("session_token")
    )
    region = secrets.get("region") or call.provider.auth.get("region", "us-east-1")
    service = secrets.get("service") or "bedrock"
    botocore.auth.SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


# --- response --------------------------------------------------------------------------------


def usage_of(usage: Mapping[str, Any]) -> dict[str, Any]:
    return am.openai_usage(
        usage.get("inputTokens") or 0,
        usage.get("outputTokens") or 0,
        usage.get("cacheReadInputTokens") or 0,
        usage.get("cacheWriteInputTokens") or 0,
    )


def to_openai(
    data: Mapping[str, Any],
    *,
    id: str,
    model: str,
    created: int,
    natives: Mapping[str, NativeTool] = MappingProxyType({}),
) -> dict[str, Any]:
    """An OpenAI chat.completion from a Converse response; system tool runs are counted in
    its usage, not handed over as tool calls."""
    message = (data.get("output") or {}).get("message") or {}
    text, reasoning, calls = [], [], []
    runs = SystemToolCount(natives)
    for block in message.get("content") or ():
        if "text" in block:
            text.append(block["text"])
        elif is_system(block.get("toolUse")):
            runs.add(block["toolUse"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(am.tool_call(use["toolUseId"], use["name"], use.get("input") or {}))
        elif "reasoningContent" in block:
            reasoning.append(
                ((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text", "")
            )
    return am.completion(
        id=id,
        model=model,
        created=created,
        text="".join(text),
        reasoning="".join(reasoning),
        tool_calls=calls,
        stop_reason=data.get("stopReason"),
        usage=runs.into(usage_of(data.get("usage") or {})),
    )


async def to_chunks(
    frames: AsyncIterator[Event],
    *,
    id: str,
    model: str,
    created: int,
    provider: str,
    natives: Mapping[str, NativeTool] = MappingProxyType({}),
) -> AsyncIterator[dict[str, Any]]:
    """OpenAI chunks from ConverseStream events; an exception event raises its mapped error.
    The blocks of system tool runs are counted in the usage, not streamed."""
    writer = am.ChunkWriter(id=id, model=model, created=created)
    runs = SystemToolCount(natives)
    started = stopped = False
    async for kind, name, payload in frames:
        if kind != "event":
            message = payload.get("message") or payload.get("Message") or name
            raise status_error(provider, exception_status(name), message)
        if not started:
            started = True  # messageStart comes first; a missing one must not hide the role
            yield writer.role()
        if name == "messageStop":
            writer.stop_reason, stopped = payload.get("stopReason"), True
        elif name == "metadata":
            writer.usage = runs.into(usage_of(payload.get("usage") or {}))
        elif runs.takes(name, payload):
            continue
        elif (chunk := _block_chunk(writer, name, payload)) is not None:
            yield chunk
    if not stopped:
        raise UpstreamProtocolError(f"upstream {provider} ended the stream before messageStop")
    for chunk in writer.finish():
        yield chunk


def _block_chunk(
    writer: am.ChunkWriter, name: str, payload: Mapping[str, Any]
) -> dict[str, Any] | None:
    index = payload.get("contentBlockIndex", 0)
    if name == "contentBlockStart":
        tool = (payload.get("start") or {}).get("toolUse")
        return (
            writer.tool_start(index, tool.get("toolUseId", ""), tool.get("name", ""))
            if tool
            else None
        )
    if name != "contentBlockDelta":
        return None  # messageStart, contentBlockStop, and event types added later
    delta = payload.get("delta") or {}
    if "text" in delta:
        return writer.text(delta["text"])
    if "toolUse" in delta:
        return writer.tool_arguments(index, (delta["toolUse"] or {}).get("input", ""))
    if "reasoningContent" in delta:
        return writer.reasoning((delta["reasoningContent"] or {}).get("text", ""))
    return None


async def raise_for_status(response: UpstreamResponse, call: Call) -> None:
    """Read an error answer's body; what its status means is upstream_errors' call."""
    if response.status < 300:
        return
    raw = await response.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    name = response.headers.get("x-amzn-ErrorType") or data.get("__type") or ""
    message = data.get("message") or data.get("Message") or f"status {response.status}"
    status = exception_status(name, response.status) if name else response.status
    raise status_error(
        call.provider.name,
        status,
        str(message),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        upstream_model=call.channel.upstream_model,
    )


def _reply_id(response: UpstreamResponse) -> str:
    request_id = response.headers.get("x-amzn-RequestId") or uuid.uuid4().hex
    return f"chatcmpl-{request_id}"


class BedrockAdapter(Adapter):
    """Chat completions over Amazon Bedrock's Converse API."""

    protocol = "bedrock"
    endpoints = PROTOCOLS["bedrock"].endpoints
    native = frozenset({"messages"})  # Claude models only: adapters/bedrock_messages.py

    def takes_native(self, call: Call) -> bool:
        from gateway.proxy.adapters import bedrock_messages

        return super().takes_native(call) and bedrock_messages.is_claude(call)

    async def _invoke(self, call: Call, *, stream: bool) -> UpstreamResponse:
        from gateway.proxy.adapters import bedrock_messages

        target = bedrock_messages.url(call, stream=stream)
        payload = bedrock_messages.payload(call)
        response = await self.http.request(
            "POST",
            target,
            deadline=call.deadline,
            data=payload,
            headers=signed_headers(call, target, payload),
        )
        await raise_for_status(response, call)
        return response

    async def send_native(self, call: Call) -> Reply:
        from gateway.proxy.adapters import bedrock_messages

        response = await self._invoke(call, stream=False)
        return bedrock_messages.renamed(await response.json(), call)

    async def stream_native(self, call: Call) -> AsyncIterator[NativeEvent]:
        from gateway.proxy.adapters import bedrock_messages as bm

        response = await self._invoke(call, stream=True)
        try:
            async for event in bm.stream_events(bm.frames(response.iter_bytes(), call), call):
                yield event
        finally:
            await response.close()

    async def _post(self, call: Call, *, stream: bool) -> UpstreamResponse:
        target = url(call, stream=stream)
        payload = json.dumps(
            build_request(call), separators=(",", ":"), ensure_ascii=False
        ).encode()
        response = await self.http.request(
            "POST",
            target,
            deadline=call.deadline,
            data=payload,
            headers=signed_headers(call, target, payload),
        )
        await raise_for_status(response, call)
        return response

    async def send(self, call: Call) -> Reply:
        response = await self._post(call, stream=False)
        data = await response.json()
        if not isinstance(data, dict):
            raise UpstreamProtocolError(f"upstream {call.provider.name} answered a non-object")
        return Reply(
            body=to_openai(
                data,
                id=_reply_id(response),
                model=call.body["model"],
                created=int(time.time()),
                natives=call.native_tools,
            )
        )

    async def stream(self, call: Call) -> AsyncIterator[dict[str, Any]]:
        response = await self._post(call, stream=True)
        provider = call.provider.name
        try:
            async for chunk in to_chunks(
                events(response.iter_bytes(), provider),
                id=_reply_id(response),
                model=call.body["model"],
                created=int(time.time()),
                provider=provider,
                natives=call.native_tools,
            ):
                yield chunk
        finally:
            await response.close()


ADAPTER = BedrockAdapter
