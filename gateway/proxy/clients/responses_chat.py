"""OpenAI Responses clients over the chat form every adapter takes: the request (its input
items, instructions, tools, text format, reasoning effort) translated to chat, the chat
answer translated back into a Response object.

Lost in translation (channels that serve the Responses API natively keep them): reasoning
items and the reasoning text of answers, built-in tools the catalog does not map to a
native tool, `truncation`, `include`, and `file_id` references.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.catalog.snapshot import NativeTool
from gateway.errors import InvalidRequest

#: Response fields echoed from the request, with their defaults.
ECHOED: Mapping[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "temperature": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
    "store": True,
    "background": False,
    "service_tier": "default",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(16).hex()}"


# --- request -------------------------------------------------------------------------------


def input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's `input` as a list of items (a string is one user message)."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list):
        raise InvalidRequest("input: must be a string or a list of items", param="input")
    return [dict(item) for item in given]


def to_chat(
    body: Mapping[str, Any], items: Sequence[Mapping[str, Any]], natives: Mapping[str, NativeTool]
) -> dict[str, Any]:
    """The chat request for a Responses request whose whole conversation is `items`."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    for i, item in enumerate(items):
        _add_item(messages, item, i)
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    for name in ("temperature", "top_p", "stream", "parallel_tool_calls", "user"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = body["max_output_tokens"]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        out["reasoning_effort"] = effort
    if (fmt := _response_format((body.get("text") or {}).get("format"))) is not None:
        out["response_format"] = fmt
    if body.get("tools"):
        out["tools"] = [_tool(t, natives) for t in body["tools"]]
        if (choice := _tool_choice(body.get("tool_choice"))) is not None:
            out["tool_choice"] = choice
    return out


def _add_item(messages: list[dict[str, Any]], item: Mapping[str, Any], i: int) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise InvalidRequest(
                f"input[{i}].role: must be user, assistant, system or developer",
                param=f"input[{i}].role",
            )
        messages.append({"role": role, "content": _content(item.get("content"), i)})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = "".join(p.get("text", "") for p in output if isinstance(p, Mapping))
        messages.append(
            {
                "role": "tool",
                "tool_call_id": item.get("call_id"),
                "content": output if isinstance(output, str) else json.dumps(output),
            }
        )
    elif kind == "reasoning":
        return  # chat has no way to send earlier reasoning back
    else:
        raise InvalidRequest(
            f"input[{i}]: item type {kind!r} cannot be sent to this model", param=f"input[{i}]"
        )


def _content(content: Any, i: int) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest(
            f"input[{i}].content: must be a string or a list of parts", param=f"input[{i}].content"
        )
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
        elif kind == "input_image" and part.get("image_url"):
            image = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file" and part.get("file_data"):
            parts.append(
                {
                    "type": "file",
                    "file": {
                        "file_data": part["file_data"],
                        "filename": part.get("filename") or "file",
                    },
                }
            )
        else:
            raise InvalidRequest(
                f"input[{i}].content: part type {kind!r} cannot be sent to this model",
                param=f"input[{i}].content",
            )
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def native_tool(tool: Mapping[str, Any], natives: Mapping[str, NativeTool]) -> str:
    """The catalog's name for a built-in Responses tool (`web_search_preview`), or its own
    type when the catalog spells no native tool so for OpenAI."""
    for name, native in natives.items():
        for protocol in ("openai", "azure-openai"):
            spelling = native.spellings.get(protocol)
            if spelling and spelling.get("type") == tool.get("type"):
                return name
    return str(tool.get("type"))


def _tool(tool: Any, natives: Mapping[str, NativeTool]) -> dict[str, Any]:
    if not isinstance(tool, Mapping):
        raise InvalidRequest("tools: every tool must be an object", param="tools")
    if tool.get("type") != "function":
        return {"type": native_tool(tool, natives)}
    if not tool.get("name"):
        raise InvalidRequest("tools: every function tool needs a name", param="tools")
    fn: dict[str, Any] = {
        "name": tool["name"],
        "parameters": tool.get("parameters") or {"type": "object"},
    }
    for key in ("description", "strict"):
        if tool.get(key) is not None:
            fn[key] = tool[key]
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return None  # a built-in tool forced: chat can only offer it


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, Mapping) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        schema = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    return {"type": str(fmt["type"])}


# --- answer --------------------------------------------------------------------------------


def responses_usage(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not usage:
        return None
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    inp, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": int(prompt.get("cached_tokens") or 0)},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": int(completion.get("reasoning_tokens") or 0)},
        "total_tokens": inp + out,
    }


def web_searches(output: Any) -> int:
    """The web searches a Responses answer ran: one per `web_search_call` item of its
    `output` (the Responses API's own record of each call), failed ones left out."""
    return sum(
        1
        for item in (output if isinstance(output, list) else ())
        if isinstance(item, Mapping)
        and item.get("type") == "web_search_call"
        and item.get("status") != "failed"
    )


def chat_usage(
    usage: Mapping[str, Any] | None, output: Any = None, search_tool: str | None = None
) -> dict[str, Any] | None:
    """OpenAI chat usage (what the proxy accounts) from a Responses usage object, with the
    web searches of `output` as native tool calls of `search_tool` (the catalog's name of
    the web search tool the request carried)."""
    if not usage:
        return None
    out = _chat_tokens(usage)
    if search_tool and (count := web_searches(output)):
        out["native_tool_calls"] = {search_tool: count}
    return out


def _chat_tokens(usage: Mapping[str, Any]) -> dict[str, Any]:
    inp, out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": inp,
        "completion_tokens": out,
        "total_tokens": inp + out,
        "prompt_tokens_details": {
            "cached_tokens": int(
                (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
            )
        },
        "completion_tokens_details": {
            "reasoning_tokens": int(
                (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
            )
        },
    }


def response_object(
    body: Mapping[str, Any],
    *,
    id: str,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: Mapping[str, Any] | None,
    created_at: int | None = None,
    incomplete: str | None = None,
) -> dict[str, Any]:
    """A Response object, echoing the request's settings as OpenAI does."""
    out: dict[str, Any] = {
        "id": id,
        "object": "response",
        "created_at": created_at or int(time.time()),
        "status": status,
        "error": None,
        "model": model,
        "output": output,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "usage": responses_usage(usage),
    }
    for name, default in ECHOED.items():
        value = body.get(name)
        out[name] = default if value is None else value
    out["reasoning"] = {"effort": (body.get("reasoning") or {}).get("effort"), "summary": None}
    out["text"] = {"format": (body.get("text") or {}).get("format") or {"type": "text"}}
    return out


def message_item(text: str, *, id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        if status == "completed"
        else [],
    }


def call_item(call: Mapping[str, Any], *, id: str, status: str = "completed") -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "type": "function_call",
        "id": id,
        "call_id": call.get("id") or id,
        "name": fn.get("name") or "",
        "arguments": fn.get("arguments") or "",
        "status": status,
    }


def to_response(
    completion: Mapping[str, Any], body: Mapping[str, Any], *, id: str, model: str
) -> dict[str, Any]:
    """A Response object from an OpenAI chat.completion."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(message_item(message["content"], id=new_id("msg")))
    for call in message.get("tool_calls") or ():
        output.append(call_item(call, id=new_id("fc")))
    incomplete = "max_output_tokens" if choice.get("finish_reason") == "length" else None
    return response_object(
        body,
        id=id,
        model=model,
        status="incomplete" if incomplete else "completed",
        output=output,
        usage=completion.get("usage"),
        incomplete=incomplete,
    )
