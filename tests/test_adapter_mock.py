"""The mock adapter: deterministic, offline, streams the same text it answers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gateway.proxy.adapters.mock import MockAdapter
from tests.adapter_support import make_call

USER = [{"role": "user", "content": "tell me a story"}]


def call(body, **kw):
    return make_call(
        body, protocol="mock", base_url=None, secrets={}, upstream_model="echo-1", **kw
    )


def test_chat_answer_names_upstream_model_and_echoes_last_user_text():
    reply = asyncio.run(MockAdapter(None).send(call({"messages": USER})))
    assert (
        reply.body["choices"][0]["message"]["content"] == "Mock answer from echo-1: tell me a story"
    )
    assert reply.body["usage"] == {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}


def test_stream_joins_to_the_same_text_with_usage_last():
    async def drain():
        body = {"messages": USER, "stream": True, "stream_options": {"include_usage": True}}
        return [c async for c in MockAdapter(None).stream(call(body))]

    chunks = asyncio.run(drain())
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Mock answer from echo-1: tell me a story"
    assert len(chunks) >= 5 and chunks[-1]["usage"]["total_tokens"] == 12


def test_embeddings_use_model_dimensions_and_are_stable():
    base = call({"input": ["a", "b"]}, properties={"dimensions": 5})
    embed = replace(base, endpoint="embeddings")
    first = asyncio.run(MockAdapter(None).send(embed)).body
    second = asyncio.run(MockAdapter(None).send(embed)).body
    assert [len(d["embedding"]) for d in first["data"]] == [5, 5]
    assert first == second and first["data"][0]["embedding"] != first["data"][1]["embedding"]
