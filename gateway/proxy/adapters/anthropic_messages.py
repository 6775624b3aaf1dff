"""OpenAI chat shapes to and from the Messages turn model that Anthropic and Bedrock Converse share.

Both upstreams want the system prompt apart, strictly alternating user/assistant turns made of
typed content blocks, tool calls as blocks with parsed JSON input and tool results as blocks in
a user turn; both stream the answer as block start / block delta / block stop events and stop
with the same stop reasons. This module does that common part once: requests are converted to
Anthropic-spelled blocks (the Anthropic adapter sends them as they are; the Bedrock adapter
respells each block), and `ChunkWriter` turns block events of either protocol into OpenAI
`chat.completion.chunk` dicts.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.proxy import native_tools
from gateway.proxy.adapters.base import Call

DEFAULT_MAX_TOKENS = 4096

#: Thinking budgets for OpenAI's reasoning_effort levels (Anthropic's minimum budget is 1024).
EFFORT_BUDGETS: Mapping[str, int] = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024

#: Upstream stop reasons (Anthropic and Bedrock spell the common ones alike) to finish_reason.
FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL
)


def finish_reason(stop_reason: str | None) -> str | None:
    return None if stop_reason is None else FINISH_REASONS.get(stop_reason, "stop")


# --- request --------------------------------------------------------------------------------


def max_tokens(call: Call) -> int:
    """The client's limit, else the model's output limit, else a safe default."""
    body = call.body
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    if value is None:
        value = call.model.properties.get("max_output_tokens") or DEFAULT_MAX_TOKENS
    return int(value)


def stop_sequences(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def thinking_budget(call: Call, limit: int) -> int | None:
    """Budget of upstream thinking tokens, or None when thinking stays off.

    The channel's `thinking` option wins (enabled / disabled); `auto` follows the request's
    reasoning_effort. The budget must leave room for the answer inside max_tokens.
    """
    switch = call.channel.options.get("thinking", "auto")
    effort = call.body.get("reasoning_effort")
    if switch == "disabled" or (switch == "auto" and effort in (None, "none")):
        return None
    if call.body.get("tools") and tool_choice(call.body)[0] in ("any", "tool"):
        return None  # Claude refuses to think when the tool to use is forced
    budget = EFFORT_BUDGETS.get(effort or "medium", EFFORT_BUDGETS["medium"])
    budget = min(budget, limit - 1)
    return budget if budget >= MIN_THINKING_BUDGET else None


def tool_choice(body: Mapping[str, Any]) -> tuple[str, str | None]:
    """The request's tool_choice as (auto | any | none | tool, tool name)."""
    choice = body.get("tool_choice")
    if choice is None or choice == "auto":
        return "auto", None
    if choice == "required":
        return "any", None
    if choice == "none":
        return "none", None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name:
            return "tool", name
    raise InvalidRequest(
        "tool_choice must be auto, none, required or a function", param="tool_choice"
    )


def function_tools(
    body: Mapping[str, Any], native: Mapping[str, Any], protocol: str
) -> tuple[list[dict[str, Any]], list[Mapping[str, Any]]]:
    """Split the request's tools into functions ({name, description, input_schema}) and the
    upstream spellings of the native tools it asks for."""
    functions: list[dict[str, Any]] = []
    natives: list[Mapping[str, Any]] = []
    for tool in body.get("tools") or ():
        kind = tool.get("type")
        if kind == "function":
            fn = tool.get("function") or {}
            if not fn.get("name"):
                raise InvalidRequest("every function tool needs a name", param="tools")
            spec = {
                "name": fn["name"],
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
            if fn.get("description"):
                spec["description"] = fn["description"]
            functions.append(spec)
        elif kind in native and (spelled := native_tools.spelling(native[kind], protocol)):
            natives.append(spelled)
        else:
            raise InvalidRequest(
                f"tool type {kind!r} is not available on this model", param="tools"
            )
    return functions, natives


def conversation(body: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the alternating turns, as Anthropic content blocks."""
    if body.get("n") not in (None, 1):
        raise InvalidRequest("this model answers with one choice only (n = 1)", param="n")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(body.get("messages") or ()):
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"), f"messages[{i}].content")
            if text:
                system.append(text)
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), i)
        elif role == "assistant":
            role, blocks = "assistant", _assistant_blocks(message, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, i)]
        else:
            raise InvalidRequest(
                f"message role {role!r} is not supported", param=f"messages[{i}].role"
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # the upstream wants strictly alternating turns
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _text_of(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text":
            raise InvalidRequest("only text parts are allowed here", param=param)
        parts.append(part.get("text", ""))
    return "\n".join(parts)


def _user_blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            url = part.get("image_url") or {}
            blocks.append(
                image_block(
                    url.get("url", "") if isinstance(url, Mapping) else url,
                    f"messages[{i}].content",
                )
            )
        else:
            raise InvalidRequest(
                f"content part type {kind!r} is not supported by this model",
                param=f"messages[{i}].content",
            )
    return blocks


def image_block(url: str, param: str) -> dict[str, Any]:
    """An Anthropic image block from a data: URL (base64) or an http(s) URL."""
    match = _DATA_URL.match(url)
    if match:
        data = re.sub(r"\s+", "", match["data"])
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("image data URL is not valid base64", param=param) from exc
        media_type = match["type"] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("image_url must be a data: URL or an http(s) URL", param=param)


def _assistant_blocks(message: Mapping[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"), f"messages[{i}].content")
    if text:
        blocks.append({"type": "text", "text": text})
    for j, tc in enumerate(message.get("tool_calls") or ()):
        fn = tc.get("function") or {}
        try:
            arguments = json.loads(fn.get("arguments") or "{}")
        except ValueError as exc:
            raise InvalidRequest(
                "tool call arguments must be a JSON object", param=f"messages[{i}].tool_calls[{j}]"
            ) from exc
        blocks.append(
            {
                "type": "tool_use",
                "id": tc.get("id"),
                "name": fn.get("name"),
                "input": arguments if isinstance(arguments, dict) else {},
            }
        )
    return blocks


def _tool_result(message: Mapping[str, Any], i: int) -> dict[str, Any]:
    if not message.get("tool_call_id"):
        raise InvalidRequest(
            "tool messages need a tool_call_id", param=f"messages[{i}].tool_call_id"
        )
    content = _text_of(message.get("content"), f"messages[{i}].content")
    return {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": content}


# --- response -------------------------------------------------------------------------------


def openai_usage(
    input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    """OpenAI usage: prompt tokens count every input token, cached or written to the cache."""
    prompt = input_tokens + cache_read + cache_write
    details: dict[str, int] = {"cached_tokens": cache_read}
    if cache_write:
        details["cache_write_tokens"] = cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output_tokens,
        "total_tokens": prompt + output_tokens,
        "prompt_tokens_details": details,
    }


def completion(
    *,
    id: str,
    model: str,
    created: int,
    text: str,
    reasoning: str,
    tool_calls: list[dict[str, Any]],
    stop_reason: str | None,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """An OpenAI chat.completion body."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    out = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(stop_reason) or "stop",
            }
        ],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def tool_call(id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": text}}


# --- stream ---------------------------------------------------------------------------------


class ChunkWriter:
    """Turns the block events of one streamed answer into OpenAI chat.completion.chunk dicts.

    Upstream content blocks are numbered across text, thinking and tool blocks; OpenAI numbers
    tool calls alone, so each tool block gets the next tool call index.
    """

    def __init__(self, *, id: str, model: str, created: int) -> None:
        self.id, self.model, self.created = id, model, created
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._tools: dict[int, int] = {}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def role(self) -> dict[str, Any]:
        return self.chunk({"role": "assistant", "content": ""})

    def text(self, text: str) -> dict[str, Any] | None:
        return self.chunk({"content": text}) if text else None

    def reasoning(self, text: str) -> dict[str, Any] | None:
        return self.chunk({"reasoning_content": text}) if text else None

    def tool_start(self, block: int, id: str, name: str) -> dict[str, Any]:
        index = self._tools.setdefault(block, len(self._tools))
        return self.chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )

    def tool_arguments(self, block: int, fragment: str) -> dict[str, Any] | None:
        if not fragment or block not in self._tools:
            return None
        return self.chunk(
            {"tool_calls": [{"index": self._tools[block], "function": {"arguments": fragment}}]}
        )

    def finish(self) -> list[dict[str, Any]]:
        """The finish chunk, then the usage chunk (choices: []) as OpenAI sends it.

        Usage is always the last chunk so the proxy can account for it; the client's
        `stream_options.include_usage` decides whether the proxy passes it on.
        """
        chunks = [self.chunk({}, finish_reason(self.stop_reason) or "stop")]
        if self.usage is not None:
            chunks.append(
                {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": self.usage,
                }
            )
        return chunks
