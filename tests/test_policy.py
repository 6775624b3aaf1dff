"""Policy: capability checks, output limits, native tools, upstream-choosing fields."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import client

USER = [{"role": "user", "content": "hi"}]
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    }
]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    "capability,kwargs",
    [
        ("image_input", {"messages": IMAGE}),
        ("tools", {"messages": USER, "tools": [TOOL]}),
        (
            "json_schema",
            {
                "messages": USER,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "object"}},
                },
            },
        ),
        ("json_object", {"messages": USER, "response_format": {"type": "json_object"}}),
        ("reasoning", {"messages": USER, "reasoning_effort": "high"}),
    ],
)
def test_request_needing_a_missing_capability_gets_400_naming_it(proxy, capability, kwargs):
    url, _ = proxy
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="limited", **kwargs)
    assert info.value.code == "capability_not_supported"
    assert info.value.param == capability
    assert capability in info.value.body["message"]


def test_stream_on_a_model_without_streaming_gets_400(proxy):
    url, _ = proxy
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="alice-private", stream=True, messages=USER)
    assert info.value.param == "streaming"


def test_capable_model_accepts_the_same_requests(proxy):
    url, fake = proxy
    client(url).chat.completions.create(
        model="gpt-test", messages=IMAGE, tools=[TOOL], response_format={"type": "json_object"}
    )
    assert fake.requests[-1]["body"]["tools"] == [TOOL]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_output_tokens_above_the_model_limit_get_400(proxy, field):
    url, _ = proxy
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="gpt-test", messages=USER, **{field: 101})
    assert info.value.param == field
    client(url).chat.completions.create(model="gpt-test", messages=USER, **{field: 100})


def test_native_tools_not_allowed_are_dropped_and_named(proxy):
    url, fake = proxy
    answer = client(url).chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=USER,
        tools=[TOOL, {"type": "web_search"}, {"type": "code_interpreter"}],
    )
    assert answer.headers["x-modelyard-dropped-tools"] == "code_interpreter"
    sent = fake.requests[-1]["body"]  # web search in OpenAI chat's own spelling
    assert ([t["type"] for t in sent["tools"]], sent["web_search_options"]) == (["function"], {})


def test_all_tools_dropped_removes_tools_and_tool_choice(proxy):
    url, fake = proxy
    client(url).chat.completions.create(
        model="gpt-test", messages=USER, tools=[{"type": "file_search"}], tool_choice="auto"
    )
    body = fake.requests[-1]["body"]
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("field", ["api_base", "base_url", "api_key", "custom_llm_provider"])
def test_fields_that_choose_the_upstream_are_refused(proxy, field):
    url, fake = proxy
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(
            model="gpt-test", messages=USER, extra_body={field: "http://127.0.0.1:1"}
        )
    assert info.value.param == field
    assert len(fake.requests) == before


def test_chat_on_an_embedding_model_is_refused(proxy):
    url, _ = proxy
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="embed", messages=USER)
    assert info.value.code == "model_type_mismatch"


def test_missing_messages_is_refused(proxy):
    url, _ = proxy
    with pytest.raises(openai.BadRequestError) as info:
        client(url).chat.completions.create(model="gpt-test", messages=[])
    assert info.value.param == "messages"
