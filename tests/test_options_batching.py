"""batch_size: big embedding inputs are sent in batches and joined back in order."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from gateway.errors import UpstreamStatusError
from gateway.proxy.adapters.base import Adapter, Call, Reply
from gateway.proxy.options import batching
from tests.adapter_support import make_call
from tests.conftest import client, running_proxy
from tests.upstreams import thinking_openai as fake
from tests.upstreams.server import serve_asgi


def embed_call(inputs, batch_size: int | None = 2) -> Call:
    options = {"batch_size": batch_size} if batch_size else {}
    call = make_call(
        {"input": inputs},
        protocol="openai",
        base_url="http://unused",
        secrets={"type": "none"},
        options=options,
    )
    return dataclasses.replace(call, endpoint="embeddings")


class Recorder(Adapter):
    """Answers each batch with its inputs' lengths, listing its data in reverse order."""

    protocol = "test"
    endpoints = frozenset({"embeddings"})

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(http=None)
        self.batches: list[list] = []
        self.fail_on = fail_on

    async def send(self, call: Call) -> Reply:
        batch = call.body["input"]
        self.batches.append(batch)
        await asyncio.sleep(0)
        if self.fail_on is not None and self.fail_on in batch:
            raise UpstreamStatusError("no", status=400, retryable=False)
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(str(x)))]}
            for i, x in enumerate(batch if isinstance(batch, list) else [batch])
        ]
        return Reply(
            body={
                "object": "list",
                "model": "up",
                "data": data[::-1],
                "usage": {"prompt_tokens": len(batch), "total_tokens": len(batch)},
            }
        )


def test_inputs_are_sent_in_batches_and_joined_in_order_with_usage_summed():
    adapter = Recorder()
    inputs = ["a", "bb", "ccc", "dddd", "eeeee"]
    reply = asyncio.run(batching.send_batched(adapter, embed_call(inputs)))
    assert sorted(map(tuple, adapter.batches)) == [("a", "bb"), ("ccc", "dddd"), ("eeeee",)]
    assert [d["index"] for d in reply.body["data"]] == [0, 1, 2, 3, 4]
    assert [d["embedding"] for d in reply.body["data"]] == [[1.0], [2.0], [3.0], [4.0], [5.0]]
    assert reply.body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}


@pytest.mark.parametrize(
    "inputs,size", [("one string", 2), (["a", "b"], 2), ([1, 2, 3], 2), (["a", "b", "c"], None)]
)
def test_calls_that_fit_go_out_unchanged(inputs, size):
    adapter = Recorder()
    asyncio.run(batching.send_batched(adapter, embed_call(inputs, size)))
    assert adapter.batches == [inputs]


def test_a_failing_batch_fails_the_call():
    with pytest.raises(UpstreamStatusError):
        asyncio.run(batching.send_batched(Recorder(fail_on="c"), embed_call(["a", "b", "c"])))


def test_batches_in_flight_are_bounded():
    inputs = [str(i) for i in range(40)]
    in_flight = peak = 0

    class Slow(Recorder):
        async def send(self, call: Call) -> Reply:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1
            return await super().send(call)

    reply = asyncio.run(batching.send_batched(Slow(), embed_call(inputs, 1)))
    assert peak == batching.CONCURRENCY
    assert [d["embedding"] for d in reply.body["data"]] == [[float(len(x))] for x in inputs]


@pytest.fixture(scope="module")
def ark() -> Iterator[tuple[str, fake.FakeThinking]]:
    upstream = fake.FakeThinking("volcengine", "/api/v3")
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "volcengine", f"{url}/api/v3", model_name="m", upstream_model="up", key_env="ARK_KEY"
        )
        with running_proxy(data, environ={"ARK_KEY": fake.KEYS["volcengine"]}) as (proxy, _):
            yield proxy, upstream


def test_batches_through_the_proxy(ark):
    url, upstream = ark
    before = len(upstream.requests)
    texts = ["a", "bb", "ccc", "dddd", "eeeee"]
    out = client(url).embeddings.create(model="m-embed", input=texts, encoding_format="float")
    sent = [r["body"]["input"] for r in upstream.requests[before:]]
    assert sorted(sent) == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert [d.index for d in out.data] == [0, 1, 2, 3, 4]
    assert [d.embedding[0] for d in out.data] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert out.usage.total_tokens == 10
