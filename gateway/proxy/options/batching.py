"""The `batch_size` channel option: big embedding inputs sent in batches, joined in order."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from gateway.proxy.adapters.base import Adapter, Call, Reply

#: Batches of one request in flight at once: enough to hide latency, few enough to be polite.
CONCURRENCY = 4
#: The batch size of a channel that sets none: OpenAI's limit of inputs per request.
DEFAULT_BATCH_SIZE = 2048


def _inputs(body: Mapping[str, Any]) -> list[Any] | None:
    """The request's inputs as a list, or None when it is a single input."""
    value = body.get("input")
    if not isinstance(value, list) or not value or isinstance(value[0], int):
        return None  # a string, or one input given as token ids
    return value


def batches_of(call: Call) -> list[list[Any]] | None:
    """The input batches this call must be split into, or None when it fits in one request."""
    size = call.channel.options.get("batch_size") or DEFAULT_BATCH_SIZE
    inputs = _inputs(call.body) if call.endpoint == "embeddings" else None
    if not size or inputs is None or len(inputs) <= size:
        return None
    return [inputs[i : i + size] for i in range(0, len(inputs), size)]


def join(replies: Sequence[Reply], batches: Sequence[Sequence[Any]]) -> Reply:
    """One embedding list: items in input order with indexes renumbered, usage summed."""
    data: list[dict[str, Any]] = []
    usage: dict[str, int] = {}
    offset = 0
    for reply, batch in zip(replies, batches, strict=True):
        body = reply.body or {}
        for item in sorted(body.get("data") or (), key=lambda d: d.get("index", 0)):
            data.append({**item, "index": offset + item.get("index", 0)})
        for key, value in (body.get("usage") or {}).items():
            if isinstance(value, int):
                usage[key] = usage.get(key, 0) + value
        offset += len(batch)
    first = replies[0].body or {}
    return Reply(body={"object": "list", "data": data, "model": first.get("model"), "usage": usage})


def send_batched(adapter: Adapter, call: Call) -> Awaitable[Reply]:
    """Answer an embeddings call through `adapter`, in batches when the channel asks for it
    (a plain function: a call that fits in one request costs no extra coroutine).

    Batches go out concurrently (at most CONCURRENCY at a time); if any fails, the whole
    call fails with that error, like a single request would.
    """
    batches = batches_of(call)
    if batches is None:
        return adapter.send(call)
    return _send_batches(adapter, call, batches)


async def _send_batches(adapter: Adapter, call: Call, batches: list[list[Any]]) -> Reply:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(batch: list[Any]) -> Reply:
        async with gate:
            return await adapter.send(dataclasses.replace(call, body={**call.body, "input": batch}))

    tasks = [asyncio.ensure_future(one(b)) for b in batches]
    try:
        replies = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return join(replies, batches)
