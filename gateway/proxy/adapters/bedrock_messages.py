"""Anthropic Messages passed through to Claude on Amazon Bedrock (InvokeModel and
InvokeModelWithResponseStream): the client's body as it is, with Bedrock's
`anthropic_version` and the client's beta flags in the body, as Bedrock takes them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import yarl

from gateway.errors import UpstreamProtocolError
from gateway.proxy.adapters.anthropic import native_events
from gateway.proxy.adapters.base import Call, NativeEvent, Reply
from gateway.proxy.adapters.bedrock_eventstream import Event, events, exception_status
from gateway.proxy.upstream_errors import status_error

BEDROCK_VERSION = "bedrock-2023-05-31"


def is_claude(call: Call) -> bool:
    """Claude on Bedrock: a model id (or inference profile) of Anthropic's."""
    return "anthropic.claude" in call.channel.upstream_model


def url(call: Call, *, stream: bool) -> str:
    region = call.secrets.get("region") or call.provider.auth.get("region", "us-east-1")
    base = call.provider.base_url or f"https://bedrock-runtime.{region}.amazonaws.com"
    operation = "invoke-with-response-stream" if stream else "invoke"
    raw = f"{base.rstrip('/')}/model/{quote(call.channel.upstream_model, safe='')}/{operation}"
    return str(yarl.URL(raw))  # normalised as sent, so that it is what gets signed


def payload(call: Call) -> bytes:
    assert call.native is not None
    body: dict[str, Any] = {
        k: v for k, v in call.native.body.items() if k not in ("model", "stream")
    }
    body["anthropic_version"] = BEDROCK_VERSION
    if betas := call.native.headers.get("anthropic-beta"):
        body["anthropic_beta"] = [b.strip() for b in betas.split(",") if b.strip()]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def renamed(message: Any, call: Call) -> Reply:
    if not isinstance(message, dict):
        raise UpstreamProtocolError(f"upstream {call.provider.name} answered a non-object")
    if "model" in message:
        message["model"] = call.body["model"]
    return Reply(body=message, native=True)


async def pairs(frames: AsyncIterator[Event], call: Call) -> AsyncIterator[tuple[str | None, str]]:
    """The Messages events inside Bedrock's `chunk` frames; an exception frame is raised."""
    async for kind, name, data in frames:
        if kind == "exception":
            raise status_error(
                call.provider.name, exception_status(name), str(data.get("message") or name)
            )
        if name != "chunk":
            continue
        try:
            text = base64.b64decode(data.get("bytes") or "").decode()
        except ValueError as exc:
            raise UpstreamProtocolError(
                f"upstream {call.provider.name} sent an unreadable chunk"
            ) from exc
        yield None, text


async def stream_events(frames: AsyncIterator[Event], call: Call) -> AsyncIterator[NativeEvent]:
    async for event in native_events(pairs(frames, call), call):
        if event.event is None:
            event.event = event.data.get("type")
        yield event


def frames(chunks: AsyncIterator[bytes], call: Call) -> AsyncIterator[Event]:
    return events(chunks, call.provider.name)
