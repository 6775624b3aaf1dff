"""Native tools as each protocol carries them: in its own spelling, or dropped and named.

Policy keeps the native tools a model allows; this module, once the router has picked a
channel, keeps those the channel's protocol can carry and names the rest, which the client
learns from the `x-modelyard-dropped-tools` header. The spelling of a tool for a protocol is
the catalog's `spellings.<protocol>` when given (it may set options such as `max_uses`),
else the one the protocol registry (gateway/catalog/protocols.py) gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.protocols import native_tool_spellings
from gateway.catalog.snapshot import NativeTool


def spelling(tool: NativeTool, protocol: str) -> Mapping[str, Any] | None:
    """How `protocol` spells `tool`, or None when it cannot carry it."""
    own = tool.spellings.get(protocol)
    if own is not None:
        return own
    declared = native_tool_spellings(protocol)
    if declared is None:
        return {"type": tool.name}
    return declared.get(tool.name)


def for_protocol(
    body: Mapping[str, Any], natives: Mapping[str, NativeTool], protocol: str
) -> tuple[Mapping[str, Any], Mapping[str, NativeTool], tuple[str, ...]]:
    """(body, native tools) without the native tools `protocol` cannot carry, and their names."""
    dropped = tuple(sorted(n for n, t in natives.items() if spelling(t, protocol) is None))
    if not dropped:
        return body, natives, ()
    kept = {n: t for n, t in natives.items() if n not in dropped}
    tools = [
        t
        for t in body.get("tools") or ()
        if not (isinstance(t, Mapping) and t.get("type") in dropped)
    ]
    out = dict(body)
    if tools:
        out["tools"] = tools
    else:
        out.pop("tools", None)
        out.pop("tool_choice", None)
        out.pop("parallel_tool_calls", None)
    return out, kept, dropped


def split(body: Mapping[str, Any]) -> tuple[list[Any], list[str]]:
    """The request's function tools, and the names of its native tools, in order."""
    functions, natives = [], []
    for tool in body.get("tools") or ():
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if kind == "function" or kind is None:
            functions.append(tool)
        else:
            natives.append(str(kind))
    return functions, natives


def spelled(natives: Mapping[str, NativeTool], protocol: str) -> list[Mapping[str, Any]]:
    """The spellings of the carried native tools, in name order."""
    return [s for name in sorted(natives) if (s := spelling(natives[name], protocol)) is not None]


def with_body_fields(
    body: dict[str, Any], natives: Mapping[str, NativeTool], protocol: str
) -> dict[str, Any]:
    """For protocols that switch native tools on with request fields (OpenAI chat's
    `web_search_options`, DashScope's `enable_search`): the native tool entries leave
    `tools` and their spellings are merged into the body."""
    if not natives:
        return body
    functions, _ = split(body)
    if functions:
        body["tools"] = functions
    else:
        body.pop("tools", None)
        body.pop("tool_choice", None)
        body.pop("parallel_tool_calls", None)
    for fields in spelled(natives, protocol):
        for key, value in fields.items():
            if isinstance(value, Mapping) and isinstance(body.get(key), Mapping):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
    return body
