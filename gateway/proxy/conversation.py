"""Conversation shaping around every adapter call: hooks the router calls before and after.

A thin dispatcher: each channel option lives in `gateway/proxy/options/`. Order matters on
the way back: inline think blocks are split out first (so a simulated tool call is parsed
from the answer alone), reasoning is merged back into content last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from typing import Any

from gateway.proxy.adapters.base import Adapter, Call, Reply
from gateway.proxy.chunk import as_dict
from gateway.proxy.options import batching, reasoning, simulate_tools, speech_defaults


def _simulating(call: Call) -> bool:
    return call.endpoint == "chat" and bool(call.channel.options.get("function_call_simulate"))


def _reasoning(call: Call) -> str:
    if call.endpoint != "chat":
        return "passthrough"
    return call.channel.options.get("reasoning", "passthrough")


def prepare(call: Call) -> Call:
    """The call as the adapter should see it."""
    if speech_defaults.applies(call):
        return speech_defaults.prepare(call)
    if _simulating(call):
        return dataclasses.replace(
            call, body=simulate_tools.prepare_body(call.body), event_runs=False
        )
    if call.event_runs and _reasoning(call) != "passthrough":
        return dataclasses.replace(call, event_runs=False)  # finish_stream edits each chunk
    return call


def send(adapter: Adapter, call: Call) -> Awaitable[Reply]:
    """The adapter's answer to a prepared call, in several upstream requests if the channel's
    `batch_size` says so (embeddings)."""
    return batching.send_batched(adapter, call)


def finish(call: Call, reply: Reply) -> Reply:
    """The reply as the client should see it (`call` is the call before `prepare`)."""
    if call.endpoint != "chat" or reply.body is None:
        return reply
    body = reply.body
    mode = _reasoning(call)
    if mode == "split":
        body = reasoning.split_reply(body)
    if _simulating(call):
        body = simulate_tools.finish_reply(call.body, body)
    if mode == "merge":
        body = reasoning.merge_reply(body)
    return reply if body is reply.body else dataclasses.replace(reply, body=body, raw=None)


def finish_stream(
    call: Call, chunks: AsyncIterator[Mapping[str, Any]]
) -> AsyncIterator[Mapping[str, Any]]:
    """The stream chunks as the client should see them (`call` is the call before `prepare`).

    With no option to apply, the adapter's own iterator (one hop less per chunk, and
    `RawChunk`s stay bytes). The options edit chunks in place, so they get dicts.
    """
    mode = _reasoning(call)
    if mode == "passthrough" and not _simulating(call):
        return chunks
    return _shaped(call, mode, chunks)


async def _shaped(
    call: Call, mode: str, chunks: AsyncIterator[Mapping[str, Any]]
) -> AsyncGenerator[dict[str, Any], None]:
    chain: list[AsyncIterator[dict[str, Any]]] = [_dicts(chunks)]
    if mode == "split":
        chain.append(reasoning.split_stream(chain[-1]))
    if _simulating(call):
        chain.append(simulate_tools.finish_stream(call.body, chain[-1]))
    if mode == "merge":
        chain.append(reasoning.merge_stream(chain[-1]))
    try:
        async for chunk in chain[-1]:
            yield chunk
    finally:
        # the whole chain, the adapter's own stream included, closed outermost first
        stages: list[AsyncIterator[Any]] = [*reversed(chain), chunks]
        for stage in stages:
            aclose = getattr(stage, "aclose", None)
            if aclose is not None:
                await aclose()


async def _dicts(chunks: AsyncIterator[Mapping[str, Any]]) -> AsyncGenerator[dict[str, Any], None]:
    async for chunk in chunks:
        yield as_dict(chunk)
