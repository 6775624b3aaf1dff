"""Bedrock's system tools (Nova web grounding) in a Converse answer.

Bedrock runs a system tool itself and records each run in the answer as a `toolUse` block of
type `server_tool_use` named after the tool (`nova_grounding`); Converse's usage carries
no count of them. Such a block is no tool call for the client: it is left out of the
answer and counted instead, one call per block, under the catalog's name of the native tool
whose Bedrock spelling names it (a name no requested tool explains keeps Bedrock's name, so
the usage log still shows it though nothing prices it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import NativeTool
from gateway.proxy import native_tools

SERVER_TOOL_USE = "server_tool_use"


def is_system(use: Any) -> bool:
    """Whether a `toolUse` block (or a block start) is a system tool Bedrock ran."""
    return isinstance(use, Mapping) and use.get("type") == SERVER_TOOL_USE


def _catalog_names(natives: Mapping[str, NativeTool]) -> dict[str, str]:
    names = {}
    for name, tool in natives.items():
        spelled = native_tools.spelling(tool, "bedrock") or {}
        system = spelled.get("systemTool")
        if isinstance(system, Mapping) and system.get("name"):
            names[str(system["name"])] = name
    return names


class SystemToolCount:
    """The system tool runs of one answer, counted as its blocks go by."""

    def __init__(self, natives: Mapping[str, NativeTool]) -> None:
        self.names = _catalog_names(natives)
        self.calls: dict[str, int] = {}
        self.blocks: set[int] = set()  # content block indexes of a stream that are runs

    def add(self, use: Mapping[str, Any], index: int | None = None) -> None:
        name = self.names.get(str(use.get("name")), str(use.get("name")))
        self.calls[name] = self.calls.get(name, 0) + 1
        if index is not None:
            self.blocks.add(index)

    def takes(self, event: str, payload: Mapping[str, Any]) -> bool:
        """Whether a ConverseStream event belongs to a system tool run (counted at its
        start), so it is not streamed to the client."""
        index = payload.get("contentBlockIndex", 0)
        if event == "contentBlockStart":
            use = (payload.get("start") or {}).get("toolUse")
            if isinstance(use, Mapping) and is_system(use):
                self.add(use, index)
                return True
        return event in ("contentBlockDelta", "contentBlockStop") and index in self.blocks

    def into(self, usage: dict[str, Any]) -> dict[str, Any]:
        """`usage` (OpenAI's shape) with the runs as `native_tool_calls`."""
        if self.calls:
            usage["native_tool_calls"] = dict(self.calls)
        return usage
