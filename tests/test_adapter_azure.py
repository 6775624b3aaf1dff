"""The Azure OpenAI adapter: deployment URLs, api-version, api-key, Azure's errors, end to end."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from gateway.proxy.adapters.azure_openai import AzureOpenAIAdapter
from tests.adapter_support import make_call
from tests.conftest import (
    KEY_ALICE,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.conftest import channel as channel_doc
from tests.upstreams import azure as fake
from tests.upstreams.server import serve_asgi

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
HI = [{"role": "user", "content": "Say hello"}]


@contextmanager
def served(key: str = fake.API_KEY) -> Iterator[tuple[str, fake.FakeAzure]]:
    """The proxy over a fresh fake Azure resource, one channel per way of addressing it."""
    upstream = fake.FakeAzure()
    with serve_asgi(upstream.app) as url:
        data = snapshot_dict(
            providers=[
                provider(
                    "azure",
                    protocol="azure-openai",
                    base_url=url,
                    auth={"type": "header", "header": "api-key", "value": "${AZURE_KEY}"},
                )
            ],
            models=[
                model("gpt-4o"),
                model("gpt-4o-preview"),
                model("gpt-4o-v1"),
                model("gpt-4o-missing"),
                model("embed", type="embedding", capabilities=[]),
            ],
            channels=[
                channel_doc("az", "gpt-4o", "azure", upstream_model="gpt-4o-prod"),
                channel_doc(
                    "az-preview",
                    "gpt-4o-preview",
                    "azure",
                    upstream_model="gpt-4o-prod",
                    options={"api_version": "2025-04-01-preview"},
                ),
                channel_doc(
                    "az-v1",
                    "gpt-4o-v1",
                    "azure",
                    upstream_model="gpt-4o-prod",
                    options={"api_version": "v1"},
                ),
                channel_doc("az-missing", "gpt-4o-missing", "azure", upstream_model="gone"),
                channel_doc("az-embed", "embed", "azure", upstream_model="embed-large"),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data, environ={"AZURE_KEY": key}) as (proxy_url, _app):
            yield proxy_url, upstream


@pytest.fixture(scope="module")
def azure() -> Iterator[tuple[str, fake.FakeAzure]]:
    with served() as pair:
        yield pair


@pytest.fixture
def fresh_azure() -> Iterator[tuple[str, fake.FakeAzure]]:
    """For error tests: a failure must not leave a shared channel out of rotation."""
    with served() as pair:
        yield pair


def test_chat_goes_to_the_deployment_url_with_default_api_version_and_api_key(azure):
    url, upstream = azure
    answer = client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert answer.choices[0].message.content == fake.ANSWER
    assert answer.model == "gpt-4o"
    sent = upstream.requests[-1]
    assert sent["path"] == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert sent["query"] == {"api-version": "2024-10-21"}
    assert sent["headers"]["api-key"] == fake.API_KEY
    assert "authorization" not in sent["headers"]
    assert "model" not in sent["body"]


def test_channel_api_version_goes_into_the_query(azure):
    url, upstream = azure
    client(url).chat.completions.create(model="gpt-4o-preview", messages=HI)
    assert upstream.requests[-1]["query"] == {"api-version": "2025-04-01-preview"}


def test_api_version_v1_uses_the_v1_route_with_the_deployment_as_model(azure):
    url, upstream = azure
    answer = client(url).chat.completions.create(model="gpt-4o-v1", messages=HI)
    assert answer.choices[0].message.content == fake.ANSWER
    sent = upstream.requests[-1]
    assert sent["path"] == "/openai/v1/chat/completions" and sent["query"] == {}
    assert sent["body"]["model"] == "gpt-4o-prod"


def test_entra_bearer_token_goes_in_authorization():
    call = make_call(
        {"messages": HI},
        protocol="azure-openai",
        base_url="https://r.openai.azure.com/openai/",
        upstream_model="gpt-4o-prod",
        secrets={"type": "bearer", "token": "eyJ0eXAi"},
    )
    adapter = AzureOpenAIAdapter(http=None)
    assert adapter.headers(call)["Authorization"] == "Bearer eyJ0eXAi"
    assert adapter.url(call) == (
        "https://r.openai.azure.com/openai/deployments/gpt-4o-prod/"
        "chat/completions?api-version=2024-10-21"
    )


def test_streamed_chat_with_the_leading_filter_chunk_and_usage(azure):
    url, upstream = azure
    chunks = list(
        client(url).chat.completions.create(
            model="gpt-4o", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.choices for c in chunks[:-1])  # the choice-less filter chunk is left out
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    assert text.strip() == fake.ANSWER
    assert chunks[-1].usage.total_tokens == 17
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_tool_call_round_trip(azure):
    url, upstream = azure
    sdk = client(url)
    first = sdk.chat.completions.create(model="gpt-4o", messages=HI, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"location": "Seattle"}
    messages: list[Any] = [
        *HI,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "rain"},
    ]
    second = sdk.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "The tool answered rain."
    assert upstream.requests[-1]["body"]["messages"][-1]["tool_call_id"] == "call_az1"


def test_embeddings_use_the_deployment_url(azure):
    url, upstream = azure
    out = client(url).embeddings.create(model="embed", input=["a", "bcd"], encoding_format="float")
    assert [d.embedding for d in out.data] == [[1.0, 1.0], [3.0, 1.0]]
    assert upstream.requests[-1]["path"] == "/openai/deployments/embed-large/embeddings"


def test_content_filter_refusal_is_a_400_with_the_filter_verdict(azure):
    url, _ = azure
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "BLOCKED words"}]
        )
    body = err.value.body
    assert body["code"] == "content_filter" and body["param"] == "prompt"
    assert body["type"] == "invalid_request_error"
    assert body["innererror"]["content_filter_result"]["violence"]["filtered"] is True


def test_rate_limit_is_a_429(fresh_azure):
    url, upstream = fresh_azure
    upstream.fail(
        429,
        {"code": "429", "message": "Requests have exceeded the rate limit."},
        {"retry-after": "3", "retry-after-ms": "2500"},
    )
    with pytest.raises(openai.RateLimitError):
        client(url).chat.completions.create(model="gpt-4o", messages=HI)


def test_wrong_key_is_our_fault_a_502_without_the_key_or_url():
    with served(key="not-the-key") as (url, _), pytest.raises(openai.APIStatusError) as err:
        client(url).chat.completions.create(model="gpt-4o", messages=HI)
    assert err.value.status_code == 502
    text = err.value.response.text
    assert "not-the-key" not in text and "127.0.0.1" not in text and "deployments" not in text


def test_unknown_deployment_is_a_502(fresh_azure):
    url, _ = fresh_azure
    with pytest.raises(openai.APIStatusError) as err:
        client(url).chat.completions.create(model="gpt-4o-missing", messages=HI)
    assert err.value.status_code == 502


@pytest.mark.parametrize(
    "endpoint,path",
    [
        ("embeddings", "embeddings"),
        ("images.generations", "images/generations"),
        ("images.edits", "images/edits"),
        ("audio.speech", "audio/speech"),
        ("audio.transcriptions", "audio/transcriptions"),
    ],
)
def test_every_endpoint_has_its_deployment_url(endpoint, path):
    call = make_call(
        {},
        protocol="azure-openai",
        base_url="https://r.openai.azure.com",
        upstream_model="dep 1",
        secrets={"type": "none"},
        options={"api_version": "2025-04-01-preview"},
    )
    call = dataclasses.replace(call, endpoint=endpoint)
    assert AzureOpenAIAdapter(http=None).url(call) == (
        f"https://r.openai.azure.com/openai/deployments/dep%201/{path}"
        "?api-version=2025-04-01-preview"
    )
