"""Claude on Bedrock through the proxy, as apps use it: the official `openai` SDK against
`modelyard serve`'s app in front of a fake Bedrock runtime that checks SigV4 signatures
(the adapter's translation itself: tests/test_adapter_bedrock.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.adapter_support import (
    BEDROCK_AUTH,
    BEDROCK_MODEL_ID,
    TOP_SONG_TOOL,
    proxy_catalog,
    recording_upstream,
    streamed_arguments,
    streamed_text,
    with_image,
)
from tests.conftest import client, running_proxy
from tests.upstreams import bedrock as fake


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with recording_upstream(fake.make_app) as pair:
        yield pair


ENVIRON = {"AWS_ACCESS_KEY_ID": fake.ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": fake.SECRET_ACCESS_KEY}


@pytest.fixture(scope="module")
def sdk(upstream) -> Iterator[tuple[openai.OpenAI, list[dict[str, Any]]]]:
    url, received = upstream
    catalog = proxy_catalog(
        "bedrock",
        url,
        BEDROCK_AUTH,
        {
            "claude": BEDROCK_MODEL_ID,
            "claude-throttled": "throttled",
            "claude-invalid": "invalid",
            "claude-cut": "stream-throttled",
        },
    )
    with running_proxy(catalog, environ=ENVIRON) as (proxy_url, _):
        yield client(proxy_url), received


def test_sdk_plain_chat(sdk):
    api, received = sdk
    answer = api.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "system",
                "content": "You are an app that creates playlists for a radio station "
                "that plays rock and pop music.",
            },
            {"role": "user", "content": "Create a list of 3 pop songs."},
        ],
    )
    assert answer.choices[0].message.content == fake.POP_SONGS
    assert answer.usage.total_tokens == 185
    assert received[-1]["body"]["system"][0]["text"].startswith("You are an app")


def test_sdk_streamed_chat(sdk):
    api, _ = sdk
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Create a list of 3 pop songs."}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert streamed_text(chunks) == fake.POP_SONGS
    assert chunks[-1].usage.completion_tokens == 60


def test_sdk_tool_call_round_trip(sdk):
    api, received = sdk
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the most popular song on WZPZ?"}
    ]
    first = api.chat.completions.create(model="claude", messages=messages, tools=[TOP_SONG_TOOL])
    call_ = first.choices[0].message.tool_calls[0]
    assert json.loads(call_.function.arguments) == {"sign": "WZPZ"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call_.id,
            "content": json.dumps({"song": "Elemental Hotel", "artist": "8 Storey Hike"}),
        },
    ]
    second = api.chat.completions.create(model="claude", messages=messages, tools=[TOP_SONG_TOOL])
    assert second.choices[0].message.content == fake.TOP_SONG
    assert (
        received[-1]["body"]["messages"][-1]["content"][0]["toolResult"]["toolUseId"]
        == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    )


def test_sdk_streamed_tool_call(sdk):
    api, _ = sdk
    chunks = list(
        api.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "Top song on WZPZ?"}],
            tools=[TOP_SONG_TOOL],
            stream=True,
        )
    )
    arguments = streamed_arguments(chunks)
    assert json.loads(arguments) == {"sign": "WZPZ"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_sdk_image_input(sdk):
    api, received = sdk
    answer = api.chat.completions.create(
        model="claude",
        messages=with_image("What is in this image?"),
    )
    assert answer.choices[0].message.content == fake.IMAGE_TEXT
    assert received[-1]["body"]["messages"][0]["content"][1]["image"]["format"] == "png"


def test_sdk_sees_aws_errors_in_openai_shape(sdk):
    api, _ = sdk
    messages = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as bad:
        api.chat.completions.create(model="claude-invalid", messages=messages)
    assert "roles must alternate" in bad.value.body["message"]
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model="claude-throttled", messages=messages)
    with pytest.raises(openai.APIError):
        list(api.chat.completions.create(model="claude-cut", messages=messages, stream=True))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_sdk_image_urls_are_refused_as_the_clients_error(sdk, stream):
    api, _ = sdk
    with pytest.raises(openai.BadRequestError) as info:
        answer = api.chat.completions.create(
            model="claude",
            stream=stream,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
        list(answer) if stream else None
    assert "data: URLs only" in info.value.body["message"]
