"""Gemini through the proxy, as apps use it: the official `openai` SDK against `modelyard
serve`'s app in front of a fake Gemini API (the adapter's conversion itself:
tests/test_adapter_gemini.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest

from tests.adapter_support import streamed_text, with_image
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
from tests.test_adapter_gemini import KEY, WEATHER
from tests.upstreams import gemini as fake
from tests.upstreams.server import serve_asgi


@contextmanager
def served() -> Iterator[tuple[str, fake.FakeGemini]]:
    """The proxy over a fresh fake Gemini: a chat model and an embedding model."""
    upstream = fake.FakeGemini()
    with serve_asgi(upstream.app) as url:
        data = snapshot_dict(
            providers=[
                provider(
                    "gemini",
                    protocol="gemini",
                    base_url=f"{url}/v1beta",
                    auth={"type": "header", "header": "x-goog-api-key", "value": "${GEMINI_KEY}"},
                )
            ],
            models=[model("flash"), model("gemini-embed", type="embedding", capabilities=[])],
            channels=[
                channel_doc(
                    "g-flash",
                    "flash",
                    "gemini",
                    upstream_model="gemini-2.5-flash",
                    options={"headers": {"x-team": "search"}},
                ),
                channel_doc(
                    "g-embed", "gemini-embed", "gemini", upstream_model="gemini-embedding-001"
                ),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data, environ={"GEMINI_KEY": KEY}) as (proxy_url, _app):
            yield proxy_url, upstream


@pytest.fixture(scope="module")
def gemini_proxy() -> Iterator[tuple[str, fake.FakeGemini]]:
    with served() as pair:
        yield pair


@pytest.fixture
def fresh_proxy() -> Iterator[tuple[str, fake.FakeGemini]]:
    """For error tests: a failure must not leave the shared channel out of rotation."""
    with served() as pair:
        yield pair


def test_plain_chat_through_the_sdk_sends_the_key_in_the_header_only(gemini_proxy):
    url, upstream = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash", messages=[{"role": "user", "content": "Explain how AI works"}]
    )
    assert answer.choices[0].message.content == fake.PLAIN
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens == 8 and answer.usage.completion_tokens == 10
    assert answer.model == "flash"
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == KEY
    assert sent["headers"]["x-team"] == "search"
    assert KEY not in sent["query"] and "authorization" not in sent["headers"]


def test_streamed_chat_through_the_sdk(gemini_proxy):
    url, upstream = gemini_proxy
    chunks = list(
        client(url).chat.completions.create(
            model="flash",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Explain how AI works"}],
        )
    )
    text = streamed_text(chunks)
    assert text == fake.PLAIN
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 18
    sent = upstream.requests[-1]
    assert sent["path"].endswith(":streamGenerateContent") and sent["query"] == "alt=sse"


def test_tool_call_round_trip_through_the_sdk(gemini_proxy):
    url, upstream = gemini_proxy
    sdk = client(url)
    messages: list[Any] = [{"role": "user", "content": "What is the temperature in London?"}]
    first = sdk.chat.completions.create(model="flash", messages=messages, tools=[WEATHER])
    assert first.choices[0].finish_reason == "tool_calls"
    called = first.choices[0].message.tool_calls[0]
    assert called.function.name == "get_current_temperature"
    assert json.loads(called.function.arguments) == {"location": "London"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": called.id, "content": '{"celsius": 12}'},
    ]
    second = sdk.chat.completions.create(model="flash", messages=messages, tools=[WEATHER])
    assert (
        second.choices[0].message.content
        == 'The get_current_temperature tool says: {"celsius": 12}'
    )
    contents = upstream.requests[-1]["body"]["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"  # sent back as received
    assert contents[2]["parts"][0]["functionResponse"]["name"] == "get_current_temperature"


def test_image_input_through_the_sdk(gemini_proxy):
    url, _ = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash",
        messages=with_image("Describe"),
    )
    assert answer.choices[0].message.content.startswith("An image of type image/png")


def test_http_image_url_is_passed_as_a_file_reference(gemini_proxy):
    url, upstream = gemini_proxy
    answer = client(url).chat.completions.create(
        model="flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                ],
            }
        ],
    )
    assert answer.choices[0].message.content == "A picture from https://example.com/a.png."
    part = upstream.requests[-1]["body"]["contents"][0]["parts"][0]
    assert part == {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}}


def test_unusable_image_url_is_a_400_before_any_upstream_request(gemini_proxy):
    url, upstream = gemini_proxy
    before = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(
            model="flash",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://host/a.png"}}],
                }
            ],
        )
    assert "data: URL or an http(s) URL" in err.value.body["message"]
    assert len(upstream.requests) == before


def test_embeddings_through_the_sdk_in_float_and_base64(gemini_proxy):
    url, upstream = gemini_proxy
    sdk = client(url)
    floats = sdk.embeddings.create(
        model="gemini-embed", input=["ab", "abcd"], dimensions=2, encoding_format="float"
    )
    assert [d.embedding for d in floats.data] == [[0.2, 0.3], [0.4, 0.5]]
    assert upstream.requests[-1]["path"].endswith("gemini-embedding-001:batchEmbedContents")
    assert upstream.requests[-1]["body"]["requests"][0]["outputDimensionality"] == 2
    default = sdk.embeddings.create(model="gemini-embed", input="ab")  # the SDK asks base64
    assert default.data[0].embedding == pytest.approx([0.2, 0.3, 0.4])


def test_invalid_argument_passes_through_as_400(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    with pytest.raises(openai.BadRequestError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.body["message"] == "Request contains an invalid argument."
    assert err.value.body["code"] == "invalid_argument"


def test_resource_exhausted_is_a_429_with_the_retry_delay(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded.",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
    )
    with pytest.raises(openai.RateLimitError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert KEY not in str(err.value.body)


def test_an_invalid_key_is_our_fault_a_502_that_never_shows_the_key(fresh_proxy):
    url, upstream = fresh_proxy
    upstream.fail(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )
    with pytest.raises(openai.APIStatusError) as err:
        client(url).chat.completions.create(
            model="flash", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 502
    assert KEY not in err.value.response.text and "127.0.0.1" not in err.value.response.text
