"""Anthropic Messages clients over the OpenAI chat form every adapter takes: the request
translated to chat, the chat answer (whole or streamed) translated back.

What chat cannot carry is lost here, and only here: `top_k`, thinking signatures and
redacted thinking of earlier turns, images inside tool results, citations, cache_control
marks (channels that take Messages natively keep them all).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import NativeTool
from gateway.errors import InvalidRequest

#: OpenAI finish reasons to Anthropic stop reasons.
STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
#: Thinking budgets up to these sizes ask a chat upstream for this reasoning effort.
EFFORTS = ((2048, "low"), (8192, "medium"))


# --- request -------------------------------------------------------------------------------


def to_chat(body: Mapping[str, Any], natives: Mapping[str, NativeTool]) -> dict[str, Any]:
    """The OpenAI chat request for a Messages request (`natives`: the catalog's native tools,
    to name the server tools it asks for)."""
    if not isinstance(body.get("messages"), list):
        raise InvalidRequest("messages: Field required", param="messages")
    if not isinstance(body.get("max_tokens"), int) or isinstance(body.get("max_tokens"), bool):
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    out: dict[str, Any] = {"model": body.get("model"), "max_tokens": body["max_tokens"]}
    system = _system_text(body.get("system"))
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for i, message in enumerate(body["messages"]):
        messages.extend(_turn(message, i))
    out["messages"] = messages
    for name in ("temperature", "top_p", "stream"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "enabled":
        budget = int(thinking.get("budget_tokens") or 0)
        out["reasoning_effort"] = next((e for size, e in EFFORTS if budget <= size), "high")
    if body.get("tools"):
        out["tools"] = [_tool(t, natives) for t in body["tools"]]
        out.update(_tool_choice(body.get("tool_choice")))
    return out


def _system_text(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise InvalidRequest("system: must be a string or a list of text blocks", param="system")
    return "\n\n".join(
        b.get("text", "") for b in system if isinstance(b, Mapping) and b.get("type") == "text"
    )


def _turn(message: Any, i: int) -> list[dict[str, Any]]:
    """One Messages turn as chat messages (tool results become `tool` messages first)."""
    if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
        raise InvalidRequest(
            f"messages.{i}.role: must be user or assistant", param=f"messages.{i}.role"
        )
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(blocks, list):
        raise InvalidRequest(
            f"messages.{i}.content: must be a string or a list of blocks",
            param=f"messages.{i}.content",
        )
    if message["role"] == "assistant":
        return [_assistant(blocks)]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "tool_result":
            tools.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id"),
                    "content": _result_text(block.get("content")),
                }
            )
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _source_url(block, i)}})
        elif kind == "document":
            parts.append(_document(block, i))
        else:
            raise InvalidRequest(
                f"messages.{i}.content: block type {kind!r} cannot be sent to this model",
                param=f"messages.{i}.content",
            )
    out = tools
    if parts:
        text_only = all(p["type"] == "text" for p in parts)
        out.append(
            {"role": "user", "content": "\n".join(p["text"] for p in parts) if text_only else parts}
        )
    return out


def _assistant(blocks: list[Any]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            text.append(block.get("text", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
        # thinking, redacted thinking and server tool blocks have no chat spelling
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _result_text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(
        b.get("text", "") for b in content if isinstance(b, Mapping) and b.get("type") == "text"
    )


def _source_url(block: Mapping[str, Any], i: int) -> str:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if source.get("type") == "url":
        return str(source.get("url", ""))
    raise InvalidRequest(
        f"messages.{i}.content: {block.get('type')} source type "
        f"{source.get('type')!r} cannot be sent to this model",
        param=f"messages.{i}.content",
    )


def _document(block: Mapping[str, Any], i: int) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "text":
        return {"type": "text", "text": source.get("data", "")}
    if source.get("type") != "base64":
        raise InvalidRequest(
            f"messages.{i}.content: document source type "
            f"{source.get('type')!r} cannot be sent to this model",
            param=f"messages.{i}.content",
        )
    return {
        "type": "file",
        "file": {
            "filename": block.get("title") or "document.pdf",
            "file_data": _source_url(block, i),
        },
    }


def server_tool(tool: Mapping[str, Any], natives: Mapping[str, NativeTool]) -> str:
    """The catalog's name for an Anthropic server tool (`web_search_20250305`), or its own
    type when the catalog has no native tool spelt so."""
    for name, native in natives.items():
        spelling = native.spellings.get("anthropic")
        if spelling and spelling.get("type") == tool.get("type"):
            return name
    return str(tool.get("type"))


def is_custom(tool: Mapping[str, Any]) -> bool:
    return tool.get("type") in (None, "custom")


def _tool(tool: Any, natives: Mapping[str, NativeTool]) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or not tool.get("name"):
        raise InvalidRequest("tools: every tool needs a name", param="tools")
    if not is_custom(tool):
        return {"type": server_tool(tool, natives)}
    fn: dict[str, Any] = {
        "name": tool["name"],
        "parameters": tool.get("input_schema") or {"type": "object"},
    }
    if tool.get("description"):
        fn["description"] = tool["description"]
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, Mapping):
        return {}
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind == "auto":
        out["tool_choice"] = "auto"
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
    return out


# --- answer --------------------------------------------------------------------------------


def anthropic_usage(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """Anthropic usage from OpenAI's: input tokens exclude those read from or written to
    the cache, which Anthropic counts apart."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    return {
        "input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - cached - written),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def message_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    return text if text.startswith("msg_") else f"msg_{text.removeprefix('chatcmpl-')}"


def to_message(completion: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic message from an OpenAI chat.completion."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        content.append(
            {"type": "thinking", "thinking": message["reasoning_content"], "signature": ""}
        )
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": fn.get("name"),
                "input": _arguments(fn.get("arguments")),
            }
        )
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def _arguments(text: Any) -> Any:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
