"""The `function_call_simulate` option: tool calling for upstreams that have none.

The request's tools become a system prompt asking for a strict JSON answer, earlier tool
calls and results become plain turns; the model's answer is parsed back into `tool_calls`
when it is that JSON, and left as content when it is not.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

_FENCE = "```"

INSTRUCTIONS = """\
You can call the tools listed below (parameters are JSON Schema):
{tools}

{rule}
To call tools, answer with exactly this JSON object and nothing else, no prose and no \
code fence:
{{"tool_calls": [{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}]}}
Earlier calls and their results appear in the conversation as such JSON and as \
"Tool result" messages."""

RULES = {
    "auto": "Call a tool when it helps; otherwise answer the user in plain text.",
    "required": "You must call at least one tool now.",
}


def _tool_list(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        fn = tool.get("function") or {}
        entry = {
            "name": fn.get("name"),
            "description": fn.get("description", ""),
            "parameters": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        out.append(entry)
    return out


def _rule(tool_choice: Any) -> str | None:
    """The instruction for a tool_choice; None means tools are off for this turn."""
    if tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        name = (tool_choice.get("function") or {}).get("name")
        return f"You must call the tool {name!r} now."
    return RULES["required" if tool_choice == "required" else "auto"]


def _call_text(tool_calls: Sequence[Mapping[str, Any]]) -> str:
    calls = []
    for call in tool_calls:
        fn = call.get("function") or {}
        try:
            arguments = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            arguments = fn.get("arguments")
        calls.append({"name": fn.get("name"), "arguments": arguments})
    return json.dumps({"tool_calls": calls}, ensure_ascii=False)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if isinstance(p, Mapping))


def _plain_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Assistant tool calls as their JSON text, tool results as user turns (merged in a run)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
            text = _text_of(message.get("content"))
            joined = "\n".join(t for t in (text, _call_text(message["tool_calls"])) if t)
            out.append({"role": "assistant", "content": joined})
        elif role == "tool":
            call_id = message.get("tool_call_id", "")
            line = (
                f"Tool result of {names.get(call_id, 'a tool')} (call {call_id}): "
                f"{_text_of(message.get('content'))}"
            )
            if out and out[-1].get("_tool_results"):
                out[-1]["content"] += "\n" + line
            else:
                out.append({"role": "user", "content": line, "_tool_results": True})
        else:
            out.append(dict(message))
    for message in out:
        message.pop("_tool_results", None)
    return out


def prepare_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request without tools, the tools described in the system prompt instead."""
    out = copy.deepcopy(dict(body))
    tools = out.pop("tools", None) or []
    tool_choice = out.pop("tool_choice", "auto")
    out.pop("parallel_tool_calls", None)
    messages = _plain_turns(out.get("messages") or [])
    rule = _rule(tool_choice)
    if tools and rule is not None:
        prompt = INSTRUCTIONS.format(
            tools=json.dumps(_tool_list(tools), ensure_ascii=False), rule=rule
        )
        first = messages[0] if messages else {}
        if first.get("role") in ("system", "developer") and isinstance(first.get("content"), str):
            messages[0] = {**first, "content": first["content"] + "\n\n" + prompt}
        else:
            messages.insert(0, {"role": "system", "content": prompt})
    out["messages"] = messages
    return out


def tool_names(body: Mapping[str, Any]) -> frozenset[str]:
    """The tools an answer may call (none when the request said tool_choice none)."""
    if body.get("tool_choice") == "none":
        return frozenset()
    return frozenset(str((t.get("function") or {}).get("name")) for t in body.get("tools") or ())


def parse_calls(text: str, names: frozenset[str]) -> list[dict[str, Any]] | None:
    """OpenAI `tool_calls` from an answer that is exactly the JSON we asked for, else None."""
    stripped = text.strip()
    if stripped.startswith(_FENCE):
        stripped = stripped[3:].removeprefix("json").strip().removesuffix(_FENCE).strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(data, Mapping) and "name" in data and "tool_calls" not in data:
        data = {"tool_calls": [data]}
    calls = data.get("tool_calls") if isinstance(data, Mapping) else None
    if not isinstance(calls, list) or not calls:
        return None
    out = []
    for call in calls:
        if not isinstance(call, Mapping) or call.get("name") not in names:
            return None
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        out.append(
            {
                "id": "call_" + secrets.token_hex(12),
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments},
            }
        )
    return out


def finish_reply(request: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion whose JSON answers are turned into tool calls."""
    names = tool_names(request)
    out = copy.deepcopy(dict(body))
    for choice in out.get("choices") or ():
        message = choice.get("message") or {}
        calls = parse_calls(_text_of(message.get("content")), names) if names else None
        if calls:
            message["content"] = None
            message["tool_calls"] = calls
            choice["finish_reason"] = "tool_calls"
    return out


def _could_be_json(text: str) -> bool:
    stripped = text.lstrip()
    return not stripped or stripped[0] == "{" or _FENCE.startswith(stripped[:3])


async def finish_stream(
    request: Mapping[str, Any], chunks: AsyncIterator[dict]
) -> AsyncIterator[dict]:
    """Stream content live once it cannot be a tool call; hold it back while it might be."""
    names = tool_names(request)
    held: dict[int, list[str]] = {}  # choice index -> content held back while undecided
    live: set[int] = set()
    last: dict = {}
    async for chunk in chunks:
        last = chunk
        for choice in (chunk.get("choices") or ()) if names else ():
            index = choice.get("index", 0)
            delta = choice.setdefault("delta", {})
            if index not in live and isinstance(delta.get("content"), str):
                held.setdefault(index, []).append(delta.pop("content"))
                if not _could_be_json("".join(held[index])):
                    live.add(index)
                    delta["content"] = "".join(held.pop(index))
            if choice.get("finish_reason") and index in held:
                _decide(choice, "".join(held.pop(index)), names)
        if (
            chunk.get("usage")
            or not chunk.get("choices")
            or any(c.get("delta") or c.get("finish_reason") for c in chunk["choices"])
        ):
            yield chunk
    if any("".join(parts) for parts in held.values()):  # ended without a finish_reason
        keys = ("id", "object", "created", "model")
        yield {
            **{k: last[k] for k in keys if k in last},
            "choices": [
                {"index": i, "delta": {"content": "".join(parts)}, "finish_reason": None}
                for i, parts in sorted(held.items())
            ],
        }


def _decide(choice: dict, text: str, names: frozenset[str]) -> None:
    """Put the held-back answer into the finishing chunk: as tool calls or as content."""
    calls = parse_calls(text, names)
    if calls is None:
        choice["delta"]["content"] = text
        return
    choice["delta"]["tool_calls"] = [{"index": i, **call} for i, call in enumerate(calls)]
    choice["finish_reason"] = "tool_calls"
