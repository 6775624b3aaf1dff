"""The mock provider answers Anthropic-SDK and Responses-API apps offline, through the
translation from its chat answers: the quick start works without a key."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)


@pytest.fixture(scope="module")
def proxy_url() -> Iterator[str]:
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("echo")],
        channels=[channel("echo@mock", "echo", "mock", upstream_model="echo-v1")],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    with running_proxy(data) as (url, _app):
        yield url


def test_mock_answers_the_anthropic_sdk(proxy_url):
    sdk = anthropic.Anthropic(base_url=proxy_url, api_key=KEY_ALICE, max_retries=0)
    message = sdk.messages.create(
        model="echo", max_tokens=64, messages=[{"role": "user", "content": "ping"}]
    )
    assert message.content[0].text == "Mock answer from echo-v1: ping"
    assert message.usage.input_tokens == 1
    with sdk.messages.stream(
        model="echo", max_tokens=64, messages=[{"role": "user", "content": "ping"}]
    ) as stream:
        assert "".join(stream.text_stream) == "Mock answer from echo-v1: ping"


def test_mock_answers_the_responses_api(proxy_url):
    api = client(proxy_url)
    created = api.responses.create(model="echo", input="ping")
    assert created.output_text == "Mock answer from echo-v1: ping"
    events = list(
        api.responses.create(
            model="echo", input="pong", stream=True, previous_response_id=created.id
        )
    )
    assert events[-1].response.output_text == "Mock answer from echo-v1: pong"
    assert api.responses.retrieve(events[-1].response.id).previous_response_id == created.id
