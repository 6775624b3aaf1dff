"""Web searches as OpenAI's chat completions report them, plain or streamed.

Chat completions carry no search count: a search model's answer that cites the web
(`url_citation` annotations, in the message of a plain answer, in a choice's `delta` of a
streamed one) ran one search, which is how OpenAI bills it. The count rides in the usage
(`native_tool_calls`, by the catalog's name of the tool asked for), the way every adapter
reports native tool calls, so a streamed answer costs what the same answer plain does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from gateway.proxy import native_tools
from gateway.proxy.adapters.base import Call
from gateway.proxy.chunk import RawChunk
from gateway.proxy.sse import aclose

CITATION = "url_citation"


def search_tools(call: Call) -> tuple[str, ...]:
    """The native tools of the call that OpenAI chat carries as `web_search_options`."""
    return tuple(
        name
        for name, tool in call.native_tools.items()
        if "web_search_options" in (native_tools.spelling(tool, "openai") or {})
    )


def _cites(annotations: Any) -> bool:
    return isinstance(annotations, list) and any(
        isinstance(a, Mapping) and a.get("type") == CITATION for a in annotations
    )


def _parts(choices: Any, key: str) -> Iterable[Any]:
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, Mapping) and isinstance(choice.get(key), Mapping):
            yield choice[key].get("annotations")


def searches(call: Call, body: Mapping[str, Any] | None) -> dict[str, int]:
    """One search per plain answer that cites the web, by the tool's catalog name."""
    if not any(_cites(a) for a in _parts((body or {}).get("choices"), "message")):
        return {}
    return {name: 1 for name in search_tools(call)}


def chunk_cites(chunk: Mapping[str, Any]) -> bool:
    """Whether a streamed chunk (or a run of plain events) carries a web citation. Bytes
    relayed as they are get a bytes search, not a parse."""
    if isinstance(chunk, RawChunk):
        return CITATION.encode() in chunk.raw
    return any(_cites(a) for a in _parts(chunk.get("choices"), "delta"))


def _with_calls(chunk: Mapping[str, Any], calls: Mapping[str, int]) -> Mapping[str, Any]:
    usage = chunk.get("usage")
    if not isinstance(usage, Mapping):
        return chunk
    data = dict(chunk.data) if isinstance(chunk, RawChunk) else dict(chunk)
    data["usage"] = {**usage, "native_tool_calls": dict(calls)}
    return data  # the bytes changed: encoded again


async def counted(
    chunks: AsyncIterator[Mapping[str, Any]], names: tuple[str, ...]
) -> AsyncIterator[Mapping[str, Any]]:
    """The chunks of a streamed answer, with its search in the usage chunk once it cited
    the web (OpenAI sends usage last, after the annotations)."""
    calls = {name: 1 for name in names}
    cited = False
    try:
        async for chunk in chunks:
            if not cited:
                cited = chunk_cites(chunk)
            if cited and not (isinstance(chunk, RawChunk) and chunk.plain):
                chunk = _with_calls(chunk, calls)
            yield chunk
    finally:
        await aclose(chunks)
