"""`GET /v1/models` carries what a model allows and what it costs the asking consumer, as
extension fields beside OpenAI's; read with the official SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)

PUBLIC = {"currency": "USD", "unit": "per_million_tokens", "input": "2.50", "output": "10"}
OWN = {"currency": "USD", "unit": "per_million_tokens", "input": "0.5", "output": "1"}
LIMITS = {"context_tokens": 128000, "max_output_tokens": 16384}


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[
            model(
                "smart",
                capabilities=["tools", "streaming", "json_schema"],
                native_tools=["web_search"],
                properties=LIMITS,
                tags=["general"],
            ),
            model("plain", capabilities=["streaming"]),
            model(
                "voice", type="speech", capabilities=[], properties={"voices": {"narrator": "onyx"}}
            ),
        ],
        channels=[
            channel("smart-public", "smart", "mock", price=PUBLIC, priority="high"),
            channel(
                "smart-alice",
                "smart",
                "mock",
                price=OWN,
                priority="low",
                owner={"type": "person", "code": "alice"},
            ),
            channel("plain-c", "plain", "mock"),
            channel("voice-c", "voice", "mock"),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
        native_tools={
            "web_search": {
                "name": "web_search",
                "description": None,
                "applies_to": ["chat"],
                "spellings": {},
                "price_per_call": None,
                "currency": "USD",
            }
        },
    )
    with running_proxy(data) as (url, _):
        yield url


def listed(url: str, key: str) -> dict[str, dict]:
    return {m.id: m.model_dump() for m in client(url, key).models.list()}


def test_list_carries_capabilities_native_tools_and_properties(proxy):
    smart = listed(proxy, KEY_BOB)["smart"]
    assert smart["capabilities"] == ["json_schema", "streaming", "tools"]
    assert smart["native_tools"] == ["web_search"]
    assert smart["properties"] == LIMITS
    assert smart["context_length"] == 128000
    assert {"tools", "tool_choice", "response_format", "stream"} <= set(
        smart["supported_parameters"]
    )
    assert listed(proxy, KEY_BOB)["voice"]["properties"] == {"voices": {"narrator": "onyx"}}


def test_price_is_the_one_the_consumer_pays(proxy):
    assert listed(proxy, KEY_BOB)["smart"]["pricing"] == {
        "currency": "USD",
        "unit": "per_million_tokens",
        "input": "2.50",
        "output": "10",
    }
    # alice's own channel comes first for her, so its price is hers
    assert listed(proxy, KEY_ALICE)["smart"]["pricing"]["input"] == "0.5"
    assert listed(proxy, KEY_BOB)["plain"]["pricing"] is None


def test_one_model_carries_the_same_fields(proxy):
    one = client(proxy, KEY_ALICE).models.retrieve("smart").model_dump()
    assert one == listed(proxy, KEY_ALICE)["smart"]


def test_a_client_can_pick_a_model_by_capability(proxy):
    models = listed(proxy, KEY_BOB).values()
    picker = sorted(
        m["id"]
        for m in models
        if m["type"] == "chat"
        and "tools" in m["capabilities"]
        and (m["context_length"] or 0) >= 100000
    )
    assert picker == ["smart"]
