"""Embeddings through every OpenAI-compatible protocol that has them, end to end."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ENV,
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)


@pytest.mark.parametrize("protocol", ["openai", "volcengine", "dashscope"])
def test_embeddings_reach_the_upstream_with_its_model_and_come_back_in_order(upstream, protocol):
    fake, url = upstream
    catalog = snapshot_dict(
        providers=[
            provider(
                "up",
                protocol=protocol,
                base_url=url,
                auth={"type": "bearer", "token": "${MY_FAKE_KEY}"},
            )
        ],
        models=[model("embed", type="embedding", capabilities=[])],
        channels=[channel("c", "embed", "up", upstream_model=f"{protocol}-embed-v2")],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    with running_proxy(catalog, environ=ENV) as (proxy_url, _app):
        result = client(proxy_url).embeddings.create(model="embed", input=["one", "two"])
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"] == {
        "model": f"{protocol}-embed-v2",
        "input": ["one", "two"],
        "encoding_format": "base64",
    }
    assert sent["headers"]["authorization"] == "Bearer upstream-secret"
    assert [d.index for d in result.data] == [0, 1] and len(result.data[0].embedding) == 4
    assert result.model == "embed"
