"""The smallest chat requests that prove each capability, for `modelyard probe --capabilities`.

Each check sends through `send` (a complete answer) or `stream` (the chunks) and returns when
the answer proves the capability, or raises `NotProven` saying what was missing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import jsonschema

from gateway.proxy import probe as base
from gateway.proxy.probe import ProbeRequest


class NotProven(Exception):
    """The upstream answered, but not with what proves the capability."""


TOOL: Mapping[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}
SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
PIXEL = "data:image/png;base64," + base64.b64encode(base.tiny_png()).decode()


Send = Callable[[ProbeRequest], Awaitable[Mapping[str, Any]]]
Stream = Callable[[ProbeRequest], Awaitable[list[dict[str, Any]]]]


def _chat(
    model: str,
    content: Any = "What time is it in UTC?",
    *,
    after: Sequence[Any] = (),
    **fields: Any,
) -> ProbeRequest:
    fields.setdefault("max_tokens", 64)
    fields = {k: v for k, v in fields.items() if v is not None}
    return ProbeRequest(
        "chat",
        {"model": model, "messages": [{"role": "user", "content": content}, *after], **fields},
        {},
    )


def _message(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = answer.get("choices") or [{}]
    return choices[0].get("message") or {}


async def _tools(name: str, send: Send, stream: Stream) -> None:
    first = await send(_chat(name, tools=[TOOL], tool_choice="required"))
    calls = _message(first).get("tool_calls") or []
    if not calls:
        raise NotProven("a forced function call was answered without a tool call")
    second = _chat(
        name,
        tools=[TOOL],
        after=[
            {"role": "assistant", "content": None, "tool_calls": calls[:1]},
            {"role": "tool", "tool_call_id": calls[0].get("id"), "content": "12:00 UTC"},
        ],
    )
    if not _message(await send(second)).get("content"):
        raise NotProven("the tool result was answered without text")


async def _parallel(name: str, send: Send, stream: Stream) -> None:
    answer = await send(_chat(name, tools=[TOOL], tool_choice="required", parallel_tool_calls=True))
    if not _message(answer).get("tool_calls"):
        raise NotProven("no tool call with parallel_tool_calls")


async def _image(name: str, send: Send, stream: Stream) -> None:
    await send(
        _chat(
            name,
            [
                {"type": "text", "text": "What colour is this pixel?"},
                {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
            ],
        )
    )


async def _audio(name: str, send: Send, stream: Stream) -> None:
    wav = base64.b64encode(base.silent_wav(0.1)).decode()
    await send(
        _chat(
            name,
            [
                {"type": "text", "text": "Is this audio silent?"},
                {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}},
            ],
        )
    )


async def _streaming(name: str, send: Send, stream: Stream) -> None:
    chunks = await stream(_chat(name, stream=True))
    if not any(c.get("choices") for c in chunks):
        raise NotProven("the stream carried no answer")


async def _stream_tools(name: str, send: Send, stream: Stream) -> None:
    chunks = await stream(_chat(name, stream=True, tools=[TOOL], tool_choice="required"))
    if not any(
        (ch.get("delta") or {}).get("tool_calls") for c in chunks for ch in c.get("choices") or ()
    ):
        raise NotProven("the stream carried no tool call")


async def _json_object(name: str, send: Send, stream: Stream) -> None:
    answer = await send(
        _chat(name, "Answer in JSON: what is 2+2?", response_format={"type": "json_object"})
    )
    try:
        if not isinstance(json.loads(_message(answer).get("content") or ""), dict):
            raise ValueError
    except ValueError:
        raise NotProven("json_object answer is not a JSON object") from None


async def _json_schema(name: str, send: Send, stream: Stream) -> None:
    answer = await send(
        _chat(
            name,
            "What is 2+2?",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
            },
        )
    )
    try:
        jsonschema.validate(json.loads(_message(answer).get("content") or ""), SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        raise NotProven("json_schema answer does not follow the schema") from None


async def _reasoning(name: str, send: Send, stream: Stream) -> None:
    await send(_chat(name, reasoning_effort="low", max_tokens=None, max_completion_tokens=256))


async def _prompt_cache(name: str, send: Send, stream: Stream) -> None:
    await send(_chat(name, prompt_cache_key="modelyard-probe"))


#: Chat capabilities and the check that proves each.
CHAT_CHECKS: Mapping[str, Callable[[str, Send, Stream], Awaitable[None]]] = {
    "tools": _tools,
    "parallel_tool_calls": _parallel,
    "image_input": _image,
    "audio_input": _audio,
    "streaming": _streaming,
    "stream_function_call": _stream_tools,
    "json_object": _json_object,
    "json_schema": _json_schema,
    "reasoning": _reasoning,
    "prompt_cache": _prompt_cache,
}
