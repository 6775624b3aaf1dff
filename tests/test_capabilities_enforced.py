"""Capabilities a model lacks are refused with a 400 before any upstream call; a model that
has them gets the request through unchanged (official SDK → proxy → recording fake)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
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
from tests.upstreams.media import FakeOpenAIMedia
from tests.upstreams.server import serve_asgi

FULL = [
    "streaming",
    "tools",
    "image_input",
    "audio_input",
    "parallel_tool_calls",
    "stream_function_call",
    "json_object",
    "json_schema",
    "prompt_cache",
]
BASIC = ["streaming", "tools", "json_object"]
USER: Any = [{"role": "user", "content": "hi"}]
TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
AUDIO: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is said?"},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        ],
    }
]
SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "a",
        "schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
}
LIMITS = {"max_input_tokens": 50, "context_tokens": 100, "max_output_tokens": 90}


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[str, FakeOpenAIMedia]]:
    fake = FakeOpenAIMedia()
    with serve_asgi(fake.app) as url:
        data = snapshot_dict(
            providers=[provider("up", base_url=f"{url}/v1"), provider("mock", protocol="mock")],
            models=[
                model("full", capabilities=FULL, properties=LIMITS),
                model("basic", capabilities=BASIC, properties=LIMITS),
                model("voice", type="speech", capabilities=[]),
                model(
                    "painter",
                    type="image-generation",
                    capabilities=[],
                    properties={"styles": ["vivid", "natural"]},
                ),
                model("embed", type="embedding", capabilities=[], properties={"dimensions": 256}),
            ],
            channels=[
                channel("c-full", "full", "up", upstream_model="up-full"),
                channel("c-basic", "basic", "up", upstream_model="up-basic"),
                channel("c-voice", "voice", "up", upstream_model="up-voice"),
                channel("c-painter", "painter", "up", upstream_model="up-painter"),
                channel("c-embed", "embed", "mock", upstream_model="mock-embed"),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data) as (proxy, _):
            yield proxy, fake


def refused(proxied, name: str, **kw: Any) -> openai.BadRequestError:
    url, fake = proxied
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model=name, **{"messages": USER, **kw})
    assert len(fake.requests) == before, "a refused request must not reach the upstream"
    return info.value


def passed(proxied, name: str, **kw: Any) -> dict[str, Any]:
    url, fake = proxied
    client(url).chat.completions.create(model=name, **{"messages": USER, **kw})
    return fake.requests[-1]["body"]


@pytest.mark.parametrize(
    ("kw", "capability"),
    [
        ({"messages": AUDIO}, "audio_input"),
        ({"tools": [TOOL], "parallel_tool_calls": True}, "parallel_tool_calls"),
        ({"tools": [TOOL], "stream": True}, "stream_function_call"),
        ({"response_format": SCHEMA}, "json_schema"),
        ({"extra_body": {"prompt_cache_key": "tenant-1"}}, "prompt_cache"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
                        ],
                    }
                ]
            },
            "prompt_cache",
        ),
    ],
)
def test_missing_capability_is_refused_and_present_one_passes(proxied, kw, capability):
    error = refused(proxied, "basic", **kw)
    assert (error.code, error.param) == ("capability_not_supported", capability)
    assert capability in error.message
    sent = passed(proxied, "full", **kw)
    assert sent["model"] == "up-full"
    if "messages" in kw:
        assert sent["messages"] == kw["messages"]


def test_json_object_passes_where_only_json_mode_is_declared(proxied):
    assert passed(proxied, "basic", response_format={"type": "json_object"})["response_format"] == {
        "type": "json_object"
    }


def test_parallel_tool_calls_false_needs_no_capability(proxied):
    assert (
        passed(proxied, "basic", tools=[TOOL], parallel_tool_calls=False)["parallel_tool_calls"]
        is False
    )


def test_prompt_surely_over_max_input_tokens_is_refused(proxied):
    long = " ".join(["word"] * 51)  # at least 51 tokens for any tokenizer
    error = refused(proxied, "full", messages=[{"role": "user", "content": long}])
    assert (error.code, error.param) == ("context_length_exceeded", "messages")
    fits = " ".join(["word"] * 49)
    passed(proxied, "full", messages=[{"role": "user", "content": fits}])


def test_prompt_plus_asked_output_over_the_context_is_refused(proxied):
    prompt = [{"role": "user", "content": " ".join(["word"] * 20)}]
    error = refused(proxied, "full", messages=prompt, max_tokens=81)
    assert error.code == "context_length_exceeded"
    passed(proxied, "full", messages=prompt, max_tokens=80)


def test_prompt_of_long_words_is_left_to_the_upstream(proxied):
    # 200 characters in one word: a 4-characters-per-token guess would say 50 tokens and
    # refuse; the lower bound says 1, so only the upstream (which knows its tokenizer) decides.
    passed(proxied, "full", messages=[{"role": "user", "content": "x" * 200}])


def test_speech_stream_without_streaming_is_refused(proxied):
    url, fake = proxied
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client(url).audio.speech.create(
            model="voice", voice="alloy", input="hi", extra_body={"stream_format": "sse"}
        )
    assert (info.value.code, info.value.param) == ("capability_not_supported", "stream")
    assert len(fake.requests) == before
    client(url).audio.speech.create(model="voice", voice="alloy", input="hi")
    assert fake.requests[-1]["body"]["model"] == "up-voice"


def test_image_style_must_be_offered(proxied):
    url, fake = proxied
    with pytest.raises(openai.BadRequestError) as info:
        client(url).images.generate(model="painter", prompt="a cat", style="cartoon")  # type: ignore[arg-type]
    assert info.value.code == "unsupported_style"
    client(url).images.generate(model="painter", prompt="a cat", style="natural")
    assert fake.requests[-1]["body"]["style"] == "natural"


# --- content parts and embeddings (robustness) ------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_content_part_with_non_string_text_is_a_400_on_the_mock_too(proxied, stream):
    url, _ = proxied
    body = {
        "model": "embed",
        "messages": [{"role": "user", "content": [{"type": "x", "text": 5}]}],
        "stream": stream,
    }
    for name in ("full", "basic"):
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={**body, "model": name},
            headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "messages[0].content[0].text"


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": 5}},
        {"type": "image_url", "image_url": [1]},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": None}},
    ],
)
def test_malformed_media_parts_are_a_400(proxied, part):
    url, _ = proxied
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "full", "messages": [{"role": "user", "content": [part]}]},
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
    )
    assert response.status_code == 400, response.text


def test_embedding_dimensions_above_the_model_are_refused(proxied):
    url, _ = proxied
    with pytest.raises(openai.BadRequestError) as info:
        client(url).embeddings.create(model="embed", input="a", dimensions=65536)
    assert info.value.param == "dimensions"
    vectors = client(url).embeddings.create(model="embed", input="a", dimensions=64)
    assert len(vectors.data[0].embedding) == 64


def test_more_than_2048_embedding_inputs_are_refused(proxied):
    url, _ = proxied
    with pytest.raises(openai.BadRequestError) as info:
        client(url).embeddings.create(model="embed", input=["a"] * 2049)
    assert info.value.param == "input"
    assert len(client(url).embeddings.create(model="embed", input=["a"] * 2048).data) == 2048
