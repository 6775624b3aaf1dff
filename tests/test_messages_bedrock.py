"""`/v1/messages` to Claude on Amazon Bedrock: the `anthropic` SDK's body passed through to
InvokeModel (signed with SigV4, checked by the fake runtime), the events back as they are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.adapter_support import BEDROCK_AUTH, BEDROCK_MODEL_ID, proxy_catalog
from tests.conftest import KEY_ALICE, running_proxy
from tests.upstreams import anthropic as fake_anthropic
from tests.upstreams import bedrock as fake

ENVIRON = {"AWS_ACCESS_KEY_ID": fake.ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": fake.SECRET_ACCESS_KEY}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[anthropic.Anthropic, list[dict[str, Any]]]]:
    from tests.upstreams.server import serve_asgi

    received: list[dict[str, Any]] = []
    with (
        serve_asgi(fake.make_app(received)) as url,
        running_proxy(
            proxy_catalog(
                "bedrock",
                url,
                BEDROCK_AUTH,
                {"claude": BEDROCK_MODEL_ID, "converse-only": "amazon.nova"},
            ),
            environ=ENVIRON,
        ) as (proxy_url, _),
    ):
        yield (
            anthropic.Anthropic(base_url=proxy_url, api_key=KEY_ALICE, max_retries=0, timeout=15),
            received,
        )


def test_claude_on_bedrock_takes_the_messages_body_as_it_is(served):
    sdk, received = served
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    message = sdk.messages.create(
        model="claude",
        max_tokens=64,
        system=system,
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
    )
    assert message.content[0].text == "Hi! My name is Claude."
    assert message.model == "claude" and message.usage.input_tokens == 2095
    sent = received[-1]
    assert sent["raw_path"].endswith("/invoke")
    assert sent["body"]["system"] == system
    assert sent["body"]["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["body"]["anthropic_beta"] == ["context-1m-2025-08-07"]


def test_claude_on_bedrock_streams_anthropics_events(served):
    sdk, received = served
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    with sdk.messages.stream(
        model="claude",
        max_tokens=4096,
        thinking=thinking,
        messages=[{"role": "user", "content": "27 * 453?"}],
    ) as stream:
        final = stream.get_final_message()
    assert received[-1]["raw_path"].endswith("/invoke-with-response-stream")
    assert final.content[0].type == "thinking"
    assert final.content[0].signature == fake_anthropic.SIGNATURE
    assert final.model == "claude" and final.usage.output_tokens == 212


def test_other_bedrock_models_are_translated_through_converse(served):
    sdk, received = served
    message = sdk.messages.create(
        model="converse-only", max_tokens=64, messages=[{"role": "user", "content": "Pop songs?"}]
    )
    assert message.content[0].text == fake.POP_SONGS
    assert received[-1]["raw_path"].endswith("/converse")
