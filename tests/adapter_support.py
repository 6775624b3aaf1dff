"""Helpers for adapter tests: a Call built from a small snapshot, and stream assembly."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from gateway.catalog.snapshot import Snapshot
from gateway.proxy.adapters import anthropic
from gateway.proxy.adapters.base import Adapter, Call, Deadline
from gateway.proxy.sse import decode
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.conftest import KEY_ALICE, channel, consumer, model, provider, snapshot_dict
from tests.upstreams import anthropic as fake_anthropic
from tests.upstreams import bedrock as fake_bedrock
from tests.upstreams.server import serve_asgi

#: A 1x1 PNG as a data URL, for image input.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNk"
    "YAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
#: The weather tool of Anthropic's tool use documentation.
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def with_image(text: str, url: str = PIXEL) -> list[dict[str, Any]]:
    """One user message asking `text` about the image at `url` (the 1x1 PNG by default)."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def streamed_text(chunks: Iterable[Any]) -> str:
    """The content of an SDK chat stream, its deltas joined."""
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def streamed_arguments(chunks: Iterable[Any]) -> str:
    """The tool-call arguments of an SDK chat stream, their deltas joined."""
    return "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices
        for tc in c.choices[0].delta.tool_calls or ()
    )


WEB_SEARCH = {
    "name": "web_search",
    "description": "search",
    "applies_to": ["chat"],
    "spellings": {
        "anthropic": {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        "bedrock": {"systemTool": {"name": "nova_grounding"}},
    },
    "price_per_call": "0.01",
    "currency": "USD",
}


def make_call(
    body: Mapping[str, Any],
    *,
    protocol: str,
    base_url: str | None,
    secrets: Mapping[str, str],
    upstream_model: str = "claude-sonnet-4-5",
    options: Mapping[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
    auth: Mapping[str, str] | None = None,
    native: Iterable[str] = (),
) -> Call:
    """A Call for one channel of one model, as the router would hand it to the adapter."""
    snap = Snapshot.from_dict(
        snapshot_dict(
            providers=[
                provider(
                    "up", protocol=protocol, base_url=base_url, auth=dict(auth or {"type": "none"})
                )
            ],
            models=[model("m", properties=dict(properties or {}), native_tools=["web_search"])],
            channels=[
                channel("c", "m", "up", upstream_model=upstream_model, options=dict(options or {}))
            ],
            native_tools={"web_search": WEB_SEARCH},
        )
    )
    return Call(
        endpoint="chat",
        body={"model": "m", **body},
        model=snap.models_by_name["m"],
        channel=snap.channels["c"],
        provider=snap.providers["up"],
        secrets=dict(secrets),
        native_tools={n: snap.native_tools[n] for n in native},
        deadline=Deadline(5.0, 10.0, time.monotonic() + 30),
        request_id="req-1",
    )


ANTHROPIC_SECRETS = {"type": "header", "header": "x-api-key", "value": fake_anthropic.API_KEY}


def anthropic_call(
    body: dict[str, Any], base_url: str | None = "https://api.anthropic.com", **kw: Any
) -> Call:
    """A Call for the Anthropic adapter with the fake upstream's API key."""
    kw.setdefault("secrets", ANTHROPIC_SECRETS)
    return make_call(body, protocol="anthropic", base_url=base_url, **kw)


async def anthropic_chunks(stream: bytes, cuts: Iterable[int] = (), **kw: Any) -> list[Any]:
    """An Anthropic event stream, arriving cut at `cuts`, as the adapter's OpenAI chunks."""
    return [
        c
        async for c in anthropic.to_chunks(
            decode(pieces(stream, cuts)), model="m", created=1, provider="anthropic", **kw
        )
    ]


BEDROCK_MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BEDROCK_AUTH = {
    "type": "sigv4",
    "region": fake_bedrock.REGION,
    "service": "bedrock",
    "access_key_id": "${AWS_ACCESS_KEY_ID}",
    "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
}
BEDROCK_SECRETS = {
    **BEDROCK_AUTH,
    "access_key_id": fake_bedrock.ACCESS_KEY_ID,
    "secret_access_key": fake_bedrock.SECRET_ACCESS_KEY,
}

TOP_SONG_TOOL = {
    "type": "function",
    "function": {
        "name": "top_song",
        "description": "Get the most popular song played on a radio station.",
        "parameters": {
            "type": "object",
            "properties": {"sign": {"type": "string"}},
            "required": ["sign"],
        },
    },
}


def bedrock_call(body: dict[str, Any], base_url: str | None = None, **kw: Any) -> Call:
    """A Call for the Bedrock adapter, SigV4 with the fake upstream's keys."""
    kw.setdefault("upstream_model", BEDROCK_MODEL_ID)
    kw.setdefault("secrets", BEDROCK_SECRETS)
    return make_call(body, protocol="bedrock", base_url=base_url, auth=BEDROCK_AUTH, **kw)


@contextmanager
def recording_upstream(
    make_app: Callable[[list[dict[str, Any]]], Any],
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A fake upstream (`make_app(received)`) on loopback: its URL, and the requests it got."""
    received: list[dict[str, Any]] = []
    with serve_asgi(make_app(received)) as url:
        yield url, received


async def on_loopback(adapter_class: type[Adapter], call: Call, *, stream: bool = False) -> Any:
    """The adapter's answer to `call` over a fresh upstream client: the Reply, or with
    `stream` the list of chunks."""
    http = AiohttpUpstream()
    try:
        adapter = adapter_class(http)
        if stream:
            return [chunk async for chunk in adapter.stream(call)]
        return await adapter.send(call)
    finally:
        await http.aclose()


async def aiter(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    """The given byte strings as an async byte stream."""
    for part in parts:
        yield part


async def pieces(data: bytes, cuts: Iterable[int] = ()) -> AsyncIterator[bytes]:
    """`data` as a byte stream that arrives cut at the given positions."""
    for a, b in pairwise([0, *cuts, len(data)]):
        yield data[a:b]


def assemble(chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What a client sees once a stream is over: text, reasoning, tool calls, finish, usage."""
    out: dict[str, Any] = {
        "content": "",
        "reasoning": "",
        "tools": {},
        "finish": None,
        "usage": None,
        "roles": [],
    }
    for chunk in chunks:
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            if "role" in delta:
                out["roles"].append(delta["role"])
            out["content"] += delta.get("content") or ""
            out["reasoning"] += delta.get("reasoning_content") or ""
            for tc in delta.get("tool_calls") or ():
                slot = out["tools"].setdefault(
                    tc["index"], {"id": None, "name": "", "arguments": ""}
                )
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            out["finish"] = choice["finish_reason"] or out["finish"]
    for slot in out["tools"].values():
        slot["arguments"] = json.loads(slot["arguments"])
    return out


def proxy_catalog(
    protocol: str, base_url: str, auth: Mapping[str, str], upstream_models: Mapping[str, str]
) -> dict[str, Any]:
    """A snapshot with one model per entry of `upstream_models` (model -> upstream model), each
    served by one channel of one provider, and the consumer of `tests.conftest.KEY_ALICE`."""
    capabilities = [
        "streaming",
        "tools",
        "image_input",
        "reasoning",
        "stream_function_call",
        "parallel_tool_calls",
    ]
    return snapshot_dict(
        providers=[provider("up", protocol=protocol, base_url=base_url, auth=dict(auth))],
        models=[
            model(name, capabilities=capabilities, native_tools=["web_search"])
            for name in upstream_models
        ],
        channels=[
            channel(f"{name}-c", name, "up", upstream_model=up)
            for name, up in upstream_models.items()
        ],
        consumers=[consumer("alice", KEY_ALICE)],
        native_tools={"web_search": WEB_SEARCH},
    )
