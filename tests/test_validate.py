"""Request shapes: wrong JSON types and impossible values are refused naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.proxy.body import parse_json_object
from gateway.proxy.validate import (
    PART_PAYLOADS,
    ROLES,
    _messages,
    _messages_pass,
    _tools,
    _tools_pass,
    check_chat,
    check_embeddings,
)

USER = {"role": "user", "content": "hi"}


def chat(**fields):
    return {"model": "m", "messages": [USER], **fields}


@pytest.mark.parametrize(
    "body",
    [
        chat(),
        chat(temperature=0, top_p=1, n=1, stop=["a"], stream=None, max_tokens=5),
        chat(messages=[{"role": "assistant", "content": None, "tool_calls": []}, USER]),
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "x"},
                        {"type": "image_url", "image_url": {"url": "u"}},
                    ],
                }
            ]
        ),
        chat(tools=[{"type": "web_search"}], tool_choice={"type": "function"}),
        chat(response_format={"type": "json_schema", "json_schema": {}}, extra_vendor_field=[1]),
    ],
)
def test_valid_chat_bodies_pass(body):
    check_chat(body)


@pytest.mark.parametrize(
    "body,param",
    [
        (chat(temperature=True), "temperature"),
        (chat(temperature=3), "temperature"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(n="2"), "n"),
        (chat(stop=[1]), "stop"),
        (chat(stream="yes"), "stream"),
        (chat(tool_choice="sometimes"), "tool_choice"),
        (chat(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (chat(messages=[{"role": "user", "content": None}]), "messages[0].content"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]),
            "messages[0].content[0].text",
        ),
        (chat(tools=[{"type": "function", "function": {"name": 1}}]), "tools[0].function.name"),
        (chat(response_format={"type": "yaml"}), "response_format.type"),
        (chat(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
    ],
)
def test_invalid_chat_fields_are_named(body, param):
    with pytest.raises(InvalidRequest) as info:
        check_chat(body)
    assert info.value.param == param


@pytest.mark.parametrize(
    "body,param",
    [
        ({"model": "e", "input": []}, "input"),
        ({"model": "e", "input": [None]}, "input[0]"),
        ({"model": "e", "input": [[1, "a"]]}, "input[0]"),
        ({"model": "e", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "e", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_invalid_embedding_fields_are_named(body, param):
    with pytest.raises(InvalidRequest) as info:
        check_embeddings(body)
    assert info.value.param == param


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'{"a": 18446744073709551616}',
        b'{"a": 1, "a": 2}',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "\\ud800"}',
        b'{"a": "\\udc00"}',
        b'{"a": "\xff"}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_json_that_parsers_disagree_on_is_refused(raw):
    with pytest.raises(InvalidRequest):
        parse_json_object(raw)


def test_escaped_surrogate_pairs_are_fine():
    assert parse_json_object(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


# ----- the quick pass over messages and tools agrees with the checks that name the field -----

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.just([]), st.just({})
)
PART = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["text", "image_url", "input_audio", "x"]), ANY),
        "text": st.one_of(st.text(max_size=3), ANY),
        "image_url": st.one_of(st.just({"url": "u"}), st.text(max_size=3), ANY),
    },
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        "role": st.one_of(st.sampled_from(sorted(ROLES)), ANY),
        "content": st.one_of(st.text(max_size=3), st.lists(st.one_of(PART, ANY), max_size=3), ANY),
    },
)
TOOL = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.just("function"), ANY),
        "function": st.one_of(st.fixed_dictionaries({}, optional={"name": ANY}), ANY),
    },
)


def verdict(check, value) -> bool:
    try:
        check(value)
    except InvalidRequest:
        return False
    return True


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(messages=st.lists(st.one_of(MESSAGE, ANY), max_size=4), tools=st.lists(TOOL, max_size=3))
def test_the_quick_pass_never_lets_through_what_the_checks_refuse(messages, tools):
    if _messages_pass(messages):
        assert verdict(_messages, messages)
    if _tools_pass(tools):
        assert verdict(_tools, tools)
    payloads = any(
        isinstance(m, dict)
        and isinstance(m.get("content"), list)
        and any(isinstance(p, dict) and str(p.get("type")) in PART_PAYLOADS for p in m["content"])
        for m in messages
    )
    if verdict(_messages, messages) and not payloads:
        assert _messages_pass(messages)  # and fast for what it may pass
    assert _tools_pass(tools) == verdict(_tools, tools)
