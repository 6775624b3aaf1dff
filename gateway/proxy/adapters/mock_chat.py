"""What the mock answers to a chat request: text, tool calls, or JSON, as a real model would.

- Tool calls when function tools are given and `tool_choice` requires one (`required`, or a
  named function), or when the last user message names a tool (several named tools give
  several calls unless `parallel_tool_calls` is false). Arguments validate against the
  tool's parameters schema.
- A tool result (the last message has role `tool`) is answered with text that quotes it.
- `response_format` json_schema: JSON that validates against the schema; json_object: a
  JSON object. Otherwise an echo naming the channel's upstream model.
- `n` choices, `max_tokens`/`max_completion_tokens` (in words: the mock's token),
  `stop` strings, a note per native tool used, and usage counted in words.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.proxy.adapters import mock_schema
from gateway.proxy.adapters.base import Call

ECHO_CHARS = 200


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def last_user_text(messages: Any) -> str:
    for message in reversed(messages or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def words(text: str) -> int:
    return len(text.split())


@dataclass(slots=True)
class Choice:
    """One answer: text (possibly JSON) or tool calls, and why it ended."""

    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"

    def message(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out

    def output_words(self) -> int:
        return words(self.content or "") + sum(
            words(c["function"]["arguments"]) for c in self.tool_calls
        )


def _functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        t["function"]
        for t in body.get("tools") or ()
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
    ]


def _wanted_tools(
    body: Mapping[str, Any], functions: list[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The functions this answer calls (none: answer in text)."""
    choice = body.get("tool_choice")
    if not functions or choice == "none":
        return []
    by_name = {f.get("name"): f for f in functions}
    if isinstance(choice, dict):
        forced = by_name.get((choice.get("function") or {}).get("name"))
        return [forced] if forced else []
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    if last.get("role") == "user":
        text = text_of(last.get("content"))
        named = [f for f in functions if f.get("name") and str(f["name"]) in text]
        if named:
            return named if body.get("parallel_tool_calls") is not False else named[:1]
    return functions[:1] if choice == "required" else []


def _call_id(call: Call, name: str, index: int) -> str:
    digest = hashlib.sha256(f"{call.request_id}:{name}:{index}".encode()).hexdigest()
    return f"call_mock{digest[:20]}"


def _tool_calls(
    call: Call, functions: list[Mapping[str, Any]], choice: int
) -> list[dict[str, Any]]:
    subject = last_user_text(call.body.get("messages"))[:40] or "mock"
    return [
        {
            "id": _call_id(call, str(f["name"]), choice * 100 + i),
            "type": "function",
            "function": {
                "name": str(f["name"]),
                "arguments": json.dumps(
                    mock_schema.instance(f.get("parameters") or {"type": "object"}, text=subject)
                ),
            },
        }
        for i, f in enumerate(functions)
    ]


def _text(call: Call) -> str:
    messages = call.body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    model = call.channel.upstream_model
    if last.get("role") == "tool":
        result = text_of(last.get("content"))[:ECHO_CHARS]
        text = f"Mock answer from {model}: the tool returned {result}"
    else:
        text = f"Mock answer from {model}: {last_user_text(messages)[:ECHO_CHARS]}"
    for name in sorted(call.native_tools):
        text += f" [used {name}]"
    return text


def _structured(call: Call) -> str | None:
    fmt = call.body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    subject = last_user_text(call.body.get("messages"))[:40] or "mock"
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return json.dumps(
            mock_schema.instance(spec.get("schema") or {"type": "object"}, text=subject)
        )
    if fmt.get("type") == "json_object":
        return json.dumps(
            {"answer": f"Mock answer from {call.channel.upstream_model}", "question": subject}
        )
    return None


def _limit(text: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """The text cut at the first stop string and at the token limit, and the finish reason."""
    stops = body.get("stop")
    for stop in [stops] if isinstance(stops, str) else stops or ():
        if stop and stop in text:
            text = text[: text.index(stop)]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and words(text) > limit:
        return " ".join(text.split()[:limit]), "length"
    return text, "stop"


def choices(call: Call) -> list[Choice]:
    """The `n` answers to a chat call."""
    n = call.body.get("n") or 1
    wanted = _wanted_tools(call.body, _functions(call.body))
    out = []
    for i in range(n):
        if wanted:
            out.append(Choice(None, _tool_calls(call, wanted, i), "tool_calls"))
            continue
        structured = _structured(call)
        if structured is not None:
            out.append(Choice(structured))
            continue
        text, reason = _limit(_text(call), call.body)
        out.append(Choice(text, [], reason))
    return out


def usage(call: Call, answers: list[Choice]) -> dict[str, Any]:
    prompt = sum(
        words(text_of(m.get("content")))
        for m in call.body.get("messages") or ()
        if isinstance(m, dict)
    )
    completion = sum(c.output_words() for c in answers)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if call.native_tools:
        out["native_tool_calls"] = {name: 1 for name in sorted(call.native_tools)}
    return out


def pieces(text: str, count: int) -> list[str]:
    """`text` cut into at most `count` pieces (at least one, possibly empty)."""
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
