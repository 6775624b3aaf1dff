"""The shape of a request body: JSON types and possible values of the fields the proxy knows.

Checked before a request can reach an upstream, so a malformed request costs a 400 here,
never an upstream call. Unknown fields pass through untouched: upstreams own their extras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest

NULL, BOOL, INT, NUM, STR, ARR, OBJ = (
    "null",
    "boolean",
    "integer",
    "number",
    "string",
    "array",
    "object",
)
_KINDS = {type(None): NULL, bool: BOOL, int: INT, float: NUM, str: STR, list: ARR, dict: OBJ}

CHAT_FIELDS: Mapping[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "model": (STR,),
        "messages": (ARR,),
        "tools": (ARR,),
        "tool_choice": (STR, OBJ),
        "stream": (BOOL, NULL),
        "stream_options": (OBJ, NULL),
        "max_tokens": (INT, NULL),
        "max_completion_tokens": (INT, NULL),
        "temperature": (NUM, NULL),
        "top_p": (NUM, NULL),
        "n": (INT, NULL),
        "stop": (STR, ARR, NULL),
        "response_format": (OBJ,),
        "user": (STR,),
        "seed": (INT, NULL),
        "presence_penalty": (NUM, NULL),
        "frequency_penalty": (NUM, NULL),
        "logprobs": (BOOL, NULL),
        "top_logprobs": (INT, NULL),
        "parallel_tool_calls": (BOOL,),
        "logit_bias": (OBJ, NULL),
        "reasoning_effort": (STR, NULL),
        "metadata": (OBJ, NULL),
        "functions": (ARR,),
        "function_call": (STR, OBJ),
    }.items()
}
EMBEDDING_FIELDS: Mapping[str, frozenset[str]] = {
    k: frozenset(v)
    for k, v in {
        "model": (STR,),
        "input": (STR, ARR),
        "encoding_format": (STR,),
        "dimensions": (INT,),
        "user": (STR,),
    }.items()
}
#: Inclusive ranges of numeric fields.
RANGES: Mapping[str, tuple[float, float]] = {
    "max_tokens": (1, 2**31),
    "max_completion_tokens": (1, 2**31),
    "temperature": (0, 2),
    "top_p": (0, 1),
    "n": (1, 128),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
    "top_logprobs": (0, 20),
    "dimensions": (1, 65536),
    "seed": (-(2**63), 2**63 - 1),
}
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICES = frozenset({"none", "auto", "required"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
ENCODINGS = frozenset({"float", "base64"})
#: Most inputs in one embeddings request (OpenAI's limit), whichever upstream serves it.
MAX_EMBEDDING_INPUTS = 2048
#: Content parts whose payload is an object with string fields: part type -> (key, fields).
PART_PAYLOADS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "image_url": ("image_url", ("url",)),
    "input_audio": ("input_audio", ("data", "format")),
}


def kind(value: Any) -> str:
    return _KINDS.get(type(value), "unknown")


def _bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"`{field}` {message}", param=field, code="invalid_value")


def _typed(value: Any, allowed: frozenset[str], field: str) -> str:
    got = kind(value)
    if got in allowed or (got == INT and NUM in allowed):
        return got
    raise _bad(field, f"must be of type {' or '.join(sorted(allowed))}, not {got}")


def _fields(body: Mapping[str, Any], table: Mapping[str, frozenset[str]]) -> None:
    for field, value in body.items():
        allowed = table.get(field)
        if allowed is None:
            continue
        got = _typed(value, allowed, field)
        if got in (INT, NUM) and field in RANGES:
            low, high = RANGES[field]
            if not low <= value <= high:
                raise _bad(field, f"must be between {low} and {high}")


def _content(content: Any, role: str, field: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return  # an assistant turn that only calls tools
        raise _bad(field, "must not be null")
    if _typed(content, frozenset({STR, ARR}), field) == STR:
        return
    for i, part in enumerate(content):
        where = f"{field}[{i}]"
        _typed(part, frozenset({OBJ}), where)
        _typed(part.get("type"), frozenset({STR}), f"{where}.type")
        if part["type"] == "text" or "text" in part:
            _typed(part.get("text"), frozenset({STR}), f"{where}.text")
        _payload(part, where)


def _payload(part: Mapping[str, Any], where: str) -> None:
    """The nested object of an image or audio part: an object (image_url may be a plain URL
    string, as some clients send it) whose named fields are strings."""
    spec = PART_PAYLOADS.get(part["type"])
    if spec is None:
        return
    key, fields = spec
    value = part.get(key)
    if key == "image_url" and isinstance(value, str):
        return
    _typed(value, frozenset({OBJ}), f"{where}.{key}")
    assert isinstance(value, dict)
    for name in fields:
        _typed(value.get(name), frozenset({STR}), f"{where}.{key}.{name}")


def _messages(messages: list) -> None:
    if not messages:
        raise _bad("messages", "must not be empty")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        _typed(message, frozenset({OBJ}), where)
        role = message.get("role")
        if _typed(role, frozenset({STR}), f"{where}.role") and role not in ROLES:
            raise _bad(f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}")
        if "content" not in message and role not in ("assistant", "function"):
            raise _bad(f"{where}.content", "is required")
        _content(message.get("content"), role, f"{where}.content")


def _tools(tools: list) -> None:
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        _typed(tool, frozenset({OBJ}), where)
        if (
            _typed(tool.get("type"), frozenset({STR}), f"{where}.type")
            and tool["type"] == "function"
        ):
            function = tool.get("function")
            _typed(function, frozenset({OBJ}), f"{where}.function")
            _typed(function.get("name"), frozenset({STR}), f"{where}.function.name")


_NO_CONTENT_ROLES = ("assistant", "function")  # turns that may only call tools


def _messages_pass(messages: Any) -> bool:
    """Whether `_messages` would find nothing wrong, decided without building the names of
    fields it would report: the common case of a long history costs one tight loop, and
    `_messages` runs only to name what is wrong. At least as strict as `_messages`."""
    if type(messages) is not list or not messages:
        return False
    for message in messages:
        if type(message) is not dict:
            return False
        role = message.get("role")
        if type(role) is not str or role not in ROLES:
            return False
        content = message.get("content", _messages_pass)
        if type(content) is str:
            continue
        if content is None or content is _messages_pass:
            if role in _NO_CONTENT_ROLES:
                continue
            return False
        if type(content) is not list:
            return False
        for part in content:
            if type(part) is not dict:
                return False
            kind_ = part.get("type")
            if type(kind_) is not str:
                return False
            if (kind_ == "text" or "text" in part) and type(part.get("text")) is not str:
                return False
            if kind_ in PART_PAYLOADS:
                return False  # image and audio parts: `_messages` looks at them itself
    return True


def _tools_pass(tools: Any) -> bool:
    """Whether `_tools` would find nothing wrong (as `_messages_pass` for messages)."""
    if type(tools) is not list:
        return False
    for tool in tools:
        if type(tool) is not dict or type(tool.get("type")) is not str:
            return False
        if tool["type"] == "function":
            function = tool.get("function")
            if type(function) is not dict or type(function.get("name")) is not str:
                return False
    return True


def check_chat(body: Mapping[str, Any]) -> None:
    """Raise a 400 naming the first field of `body` that no chat request may carry."""
    _fields(body, CHAT_FIELDS)
    if "messages" not in body:
        raise _bad("messages", "is required")
    if not _messages_pass(body["messages"]):
        _messages(body["messages"])
    if "tools" in body and not _tools_pass(body["tools"]):
        _tools(body["tools"])
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in TOOL_CHOICES:
        raise _bad("tool_choice", f"must be one of {', '.join(sorted(TOOL_CHOICES))} or an object")
    stop = body.get("stop")
    if isinstance(stop, list) and (len(stop) > 4 or any(type(s) is not str for s in stop)):
        raise _bad("stop", "must be a string or a list of at most 4 strings")
    options = body.get("stream_options")
    if options and "include_usage" in options:
        _typed(options["include_usage"], frozenset({BOOL}), "stream_options.include_usage")
    fmt = body.get("response_format")
    if (
        fmt is not None
        and _typed(fmt.get("type"), frozenset({STR}), "response_format.type")
        and fmt["type"] not in RESPONSE_FORMATS
    ):
        raise _bad("response_format.type", f"must be one of {', '.join(sorted(RESPONSE_FORMATS))}")


def check_embeddings(body: Mapping[str, Any]) -> None:
    """Raise a 400 naming the first field of `body` that no embeddings request may carry."""
    _fields(body, EMBEDDING_FIELDS)
    if "input" not in body:
        raise _bad("input", "is required")
    value = body["input"]
    if isinstance(value, list):
        if not value:
            raise _bad("input", "must not be empty")
        if len(value) > MAX_EMBEDDING_INPUTS:
            raise _bad("input", f"holds {len(value)} inputs, more than {MAX_EMBEDDING_INPUTS}")
        for i, item in enumerate(value):
            got = _typed(item, frozenset({STR, INT, ARR}), f"input[{i}]")
            if got == ARR and any(type(t) is not int for t in item):
                raise _bad(f"input[{i}]", "must be a list of token ids (integers)")
    if body.get("encoding_format", "float") not in ENCODINGS:
        raise _bad("encoding_format", "must be float or base64")
