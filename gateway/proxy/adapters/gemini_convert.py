"""OpenAI chat and embedding shapes to and from Gemini's generateContent / embedContent shapes.

Pure functions of data, so every mapping is testable without a network: `request_body`
builds the generateContent request, `completion` reads its answer, `ChunkConverter` turns the
streamGenerateContent events into `chat.completion.chunk`s (those two live in
`gemini_response`), `embed_requests` and `embedding_list` do the same for batchEmbedContents.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import InvalidRequest
from gateway.proxy import native_tools
from gateway.proxy.adapters.base import Call
from gateway.proxy.adapters.gemini_response import SIGNATURE_MARK
from gateway.proxy.adapters.gemini_response import (  # re-exported: the adapter reads answers here
    ChunkConverter as ChunkConverter,
)
from gateway.proxy.adapters.gemini_response import (
    completion as completion,
)
from gateway.proxy.options import thinking

_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL
)


# --- request --------------------------------------------------------------------------------


def request_body(call: Call) -> dict[str, Any]:
    """The generateContent request for an OpenAI chat completion request."""
    body = call.body
    system, contents = conversation(body.get("messages") or [])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    tools = [t["function"] for t in body.get("tools") or () if t.get("type") == "function"]
    if tools:
        out["tools"] = [{"functionDeclarations": [_declaration(f) for f in tools]}]
        config = _tool_config(body.get("tool_choice"))
        if config:
            out["toolConfig"] = {"functionCallingConfig": config}
    natives = [dict(s) for s in native_tools.spelled(call.native_tools, "gemini")]
    if natives:
        out["tools"] = [*out.get("tools", ()), *natives]
    generation = generation_config(call)
    if generation:
        out["generationConfig"] = generation
    return out


def _declaration(function: Mapping[str, Any]) -> dict[str, Any]:
    out = {"name": function["name"], "description": function.get("description", "")}
    if function.get("parameters"):
        out["parametersJsonSchema"] = function["parameters"]  # full JSON Schema, unconverted
    return out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return None
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, Mapping) and (choice.get("function") or {}).get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise InvalidRequest(
        "tool_choice must be none, auto, required or a function", param="tool_choice"
    )


def generation_config(call: Call) -> dict[str, Any]:
    body = call.body
    out: dict[str, Any] = {}
    simple = {
        "temperature": "temperature",
        "top_p": "topP",
        "n": "candidateCount",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
        "seed": "seed",
    }
    for ours, theirs in simple.items():
        if body.get(ours) is not None:
            out[theirs] = body[ours]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        out["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        out["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    fmt = body.get("response_format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        out["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            out["responseJsonSchema"] = schema
    wanted = thinking.wanted(call)
    if wanted is not None:
        out["thinkingConfig"] = (
            {"includeThoughts": True, "thinkingBudget": thinking.budget(call) or -1}
            if wanted
            else {"thinkingBudget": 0}
        )
    return out


def conversation(messages: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[dict]]:
    """System texts apart; the turns as Gemini contents, same-role neighbours merged."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, str] = {}  # tool call id -> function name, for the responses
    for i, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"messages[{i}].content"))
            continue
        if role == "user":
            turn, parts = "user", _user_parts(message.get("content"), i)
        elif role == "assistant":
            turn, parts = "model", _model_parts(message, calls)
        elif role == "tool":
            turn, parts = "user", [_function_response(message, calls, i)]
        else:
            raise InvalidRequest(f"unsupported role {role!r}", param=f"messages[{i}].role")
        if not parts:
            continue
        if contents and contents[-1]["role"] == turn:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": turn, "parts": parts})
    return system, contents


def _text(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    raise InvalidRequest("content must be a string or a list of parts", param=param)


def _user_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        param = f"messages[{i}].content[{j}]"
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            parts.append(media_part((part.get("image_url") or {}).get("url", ""), param))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append(
                {
                    "inlineData": {
                        "mimeType": f"audio/{audio.get('format', 'wav')}",
                        "data": audio.get("data", ""),
                    }
                }
            )
        elif kind == "file":
            parts.append(media_part((part.get("file") or {}).get("file_data", ""), param))
        else:
            raise InvalidRequest(
                f"content part type {kind!r} is not supported by this model", param=param
            )
    return parts


def media_part(url: str, param: str) -> dict[str, Any]:
    """A data: URL inline; an http(s) URL as a file reference Gemini fetches itself."""
    match = _DATA_URL.match(url)
    if match:
        return {"inlineData": {"mimeType": match["type"], "data": match["data"]}}
    if url.startswith(("https://", "http://", "gs://")):
        mime, _ = mimetypes.guess_type(url.split("?", 1)[0])
        return {"fileData": {**({"mimeType": mime} if mime else {}), "fileUri": url}}
    raise InvalidRequest("images must be a base64 data: URL or an http(s) URL", param=param)


def _model_parts(message: Mapping[str, Any], calls: dict[str, str]) -> list[dict[str, Any]]:
    text = _text(message.get("content"), "messages.content")
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        calls[call.get("id", "")] = fn.get("name", "")
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            raise InvalidRequest(
                "tool call arguments must be JSON", param="messages.tool_calls"
            ) from None
        part: dict[str, Any] = {"functionCall": {"name": fn.get("name", ""), "args": args}}
        _, mark, signature = call.get("id", "").partition(SIGNATURE_MARK)
        if mark:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(
    message: Mapping[str, Any], calls: Mapping[str, str], i: int
) -> dict[str, Any]:
    call_id = message.get("tool_call_id", "")
    if call_id not in calls:
        raise InvalidRequest(
            "tool message answers no earlier tool call", param=f"messages[{i}].tool_call_id"
        )
    text = _text(message.get("content"), f"messages[{i}].content")
    try:
        result = json.loads(text)
    except ValueError:
        result = text
    response = result if isinstance(result, dict) else {"result": result}
    return {"functionResponse": {"name": calls[call_id], "response": response}}


# --- embeddings -----------------------------------------------------------------------------


def embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    value = body.get("input")
    inputs = [value] if isinstance(value, str) else value
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise InvalidRequest(
            "this model embeds text: input must be a string or a list of strings", param="input"
        )
    return inputs


def embed_requests(call: Call, model_path: str) -> dict[str, Any]:
    dimensions = call.body.get("dimensions")
    requests = []
    for text in embedding_inputs(call.body):
        request: dict[str, Any] = {"model": model_path, "content": {"parts": [{"text": text}]}}
        if dimensions:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def embedding_list(data: Mapping[str, Any], *, model: str, encoding: str | None) -> dict:
    """An OpenAI embedding list; Gemini reports no token usage for embeddings."""
    items = []
    for i, embedding in enumerate(data.get("embeddings") or ()):
        values = embedding.get("values") or []
        vector: Any = values
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        items.append({"object": "embedding", "index": i, "embedding": vector})
    meta = data.get("usageMetadata") or {}
    tokens = meta.get("promptTokenCount", 0)
    return {
        "object": "list",
        "data": items,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
