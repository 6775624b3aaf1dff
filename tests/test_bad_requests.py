"""The proxy answers malformed, hostile and overreaching requests with an OpenAI 4xx, never upstream.

Every case goes through a real proxy on loopback as raw bytes (the SDK would refuse to send
most of them) and must give: a 4xx, an OpenAI error body, and no request at the fake
upstream. Hypothesis generates the wrong-type cases from valid base requests (derandomized,
so CI runs the same cases every time); the tables hold the hostile JSON, look-alike model
names and attempts to choose the upstream. Sizes, framing and headers are in
test_bad_request_transport.py, generated text in test_bad_request_text.py; what the three
share in bad_request_support.py. The last test checks that at least MIN_CASES requests
were sent.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bad_request_support import (
    CHAT,
    EMBEDDINGS,
    HYPOTHESIS,
    SENT,
    assert_refused,
    encode,
    gate,
    post,
    problem,
)
from tests.conftest import (
    KEY_ALICE,
)

__all__ = ["gate"]  # the proxy fixture, shared with the rest of the bad-request corpus

MIN_CASES = 2000
USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
BASE_CHAT: dict[str, Any] = {
    "model": "gpt-test",
    "messages": [USER],
    "max_tokens": 10,
    "temperature": 0.5,
    "top_p": 1,
    "n": 1,
    "stop": ["END"],
    "stream": False,
    "tools": [TOOL],
    "tool_choice": "auto",
    "response_format": {"type": "text"},
    "user": "u-1",
    "seed": 7,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "parallel_tool_calls": True,
}
BASE_PARTS: dict[str, Any] = {
    "model": "gpt-test",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
}
BASE_EMBEDDINGS: dict[str, Any] = {
    "model": "embed",
    "input": ["hello"],
    "encoding_format": "float",
    "dimensions": 4,
    "user": "u-1",
}

JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
NUMBER = ("integer", "number")
# Field path -> the JSON types OpenAI accepts there ("number" includes integers).
CHAT_FIELDS: dict[tuple, tuple[str, ...]] = {
    ("model",): ("string",),
    ("messages",): ("array",),
    ("messages", 0): ("object",),
    ("messages", 0, "role"): ("string",),
    ("messages", 0, "content"): ("string", "array"),
    ("tools",): ("array",),
    ("tools", 0): ("object",),
    ("tools", 0, "type"): ("string",),
    ("tools", 0, "function"): ("object",),
    ("tools", 0, "function", "name"): ("string",),
    ("tool_choice",): ("string", "object"),
    ("stream",): ("boolean", "null"),
    ("max_tokens",): ("integer", "null"),
    ("max_completion_tokens",): ("integer", "null"),
    ("temperature",): (*NUMBER, "null"),
    ("top_p",): (*NUMBER, "null"),
    ("n",): ("integer", "null"),
    ("stop",): ("string", "array", "null"),
    ("response_format",): ("object",),
    ("response_format", "type"): ("string",),
    ("user",): ("string",),
    ("seed",): ("integer", "null"),
    ("presence_penalty",): (*NUMBER, "null"),
    ("frequency_penalty",): (*NUMBER, "null"),
    ("logprobs",): ("boolean", "null"),
    ("top_logprobs",): ("integer", "null"),
    ("parallel_tool_calls",): ("boolean",),
    ("logit_bias",): ("object", "null"),
    ("reasoning_effort",): ("string", "null"),
    ("metadata",): ("object", "null"),
}
PARTS_FIELDS: dict[tuple, tuple[str, ...]] = {
    ("stream_options",): ("object", "null"),
    ("stream_options", "include_usage"): ("boolean",),
    ("messages", 0, "content", 0): ("object",),
    ("messages", 0, "content", 0, "type"): ("string",),
    ("messages", 0, "content", 0, "text"): ("string",),
}
EMBEDDING_FIELDS: dict[tuple, tuple[str, ...]] = {
    ("model",): ("string",),
    ("input",): ("string", "array"),
    ("input", 0): ("string", "integer", "array"),
    ("encoding_format",): ("string",),
    ("dimensions",): ("integer",),
    ("user",): ("string",),
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
VALUES = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(-(2**70), 2**70),
    "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    "string": st.text(max_size=12),
    "array": st.lists(scalars, max_size=3),
    "object": st.dictionaries(st.text(max_size=6), scalars, max_size=3),
}


def replaced(base: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(base)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def wrong_values(fields: dict[tuple, tuple[str, ...]]) -> st.SearchStrategy:
    """(path, value) with a value of a JSON type the field does not accept."""
    pairs = [(path, kind) for path, ok in fields.items() for kind in JSON_TYPES if kind not in ok]
    return st.sampled_from(pairs).flatmap(lambda pair: st.tuples(st.just(pair[0]), VALUES[pair[1]]))


# ----- the base requests are valid: every refusal below is about the one change -----


@pytest.mark.parametrize(
    ("path", "base"), [(CHAT, BASE_CHAT), (CHAT, BASE_PARTS), (EMBEDDINGS, BASE_EMBEDDINGS)]
)
def test_base_requests_reach_the_upstream(gate, path, base):
    response = post(gate, encode(base), path)
    assert response.status_code == 200, response.text
    assert len(gate.fake.requests) == 1
    gate.fake.requests.clear()


# ----- wrong types, one field at a time -----


@HYPOTHESIS
@given(case=wrong_values(CHAT_FIELDS))
def test_chat_field_of_wrong_type_is_refused(gate, case):
    path, value = case
    assert problem(gate, post(gate, encode(replaced(BASE_CHAT, path, value)))) is None, case


@settings(HYPOTHESIS, max_examples=300)
@given(case=wrong_values(PARTS_FIELDS))
def test_stream_and_content_part_of_wrong_type_is_refused(gate, case):
    path, value = case
    assert problem(gate, post(gate, encode(replaced(BASE_PARTS, path, value)))) is None, case


@settings(HYPOTHESIS, max_examples=400)
@given(case=wrong_values(EMBEDDING_FIELDS))
def test_embeddings_field_of_wrong_type_is_refused(gate, case):
    path, value = case
    body = encode(replaced(BASE_EMBEDDINGS, path, value))
    assert problem(gate, post(gate, body, EMBEDDINGS)) is None, case


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("messages",), []),
        (("messages", 0, "role"), "wizard"),
        (("messages", 0), {}),
        (("messages", 0, "content"), None),
        (("tool_choice",), "sometimes"),
        (("n",), 0),
        (("max_tokens",), -1),
        (("temperature",), -1),
        (("stop",), [1, 2]),
        (("messages", 0, "content"), [{"type": "text", "text": 5}]),
    ],
)
def test_chat_field_with_impossible_value_is_refused(gate, path, value):
    assert problem(gate, post(gate, encode(replaced(BASE_CHAT, path, value)))) is None


# ----- malformed and hostile JSON -----


def test_every_truncation_of_a_valid_body_is_refused(gate):
    body = encode(BASE_CHAT)
    assert_refused(
        gate, ((f"cut at {n}", body[:n]) for n in range(len(body))), lambda cut: post(gate, cut)
    )


DEEP = 10_000
HOSTILE_BODIES: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n",
    "array": b"[]",
    "string": b'"hi"',
    "number": b"1",
    "null": b"null",
    "true": b"true",
    "utf-8 BOM": b"\xef\xbb\xbf" + encode(BASE_CHAT),
    "utf-16": json.dumps(BASE_CHAT).encode("utf-16"),
    "invalid utf-8 in a string": encode(BASE_CHAT).replace(b'"hi"', b'"\xff\xfe"'),
    "overlong utf-8": encode(BASE_CHAT).replace(b'"hi"', b'"\xc0\xaf"'),
    "utf-8 encoded surrogate": encode(BASE_CHAT).replace(b'"hi"', b'"\xed\xa0\x80"'),
    "lone surrogate escape in content": encode(BASE_CHAT).replace(b'"hi"', b'"\\ud800"'),
    "lone surrogate escape in model": encode(BASE_CHAT).replace(b'"gpt-test"', b'"\\udfff"'),
    "NaN temperature": encode(BASE_CHAT).replace(b'"temperature": 0.5', b'"temperature": NaN'),
    "Infinity temperature": encode(BASE_CHAT).replace(b"0.5", b"Infinity"),
    "-Infinity top_p": encode(BASE_CHAT).replace(b'"top_p": 1', b'"top_p": -Infinity'),
    "NaN max_tokens": encode(BASE_CHAT).replace(b'"max_tokens": 10', b'"max_tokens": NaN'),
    "1e400 max_tokens": encode(BASE_CHAT).replace(b'"max_tokens": 10', b'"max_tokens": 1e400'),
    "1e400 temperature": encode(BASE_CHAT).replace(b"0.5", b"1e400"),
    "5000-digit max_tokens": encode(BASE_CHAT).replace(
        b'"max_tokens": 10', b'"max_tokens": ' + b"9" * 5000
    ),
    "2**64 max_tokens": encode(BASE_CHAT).replace(
        b'"max_tokens": 10', b'"max_tokens": 18446744073709551616'
    ),
    "deep arrays at top": b"[" * DEEP + b"]" * DEEP,
    "deep objects at top": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep arrays in messages": encode(BASE_CHAT).replace(
        b'"messages": [', b'"messages": [' + b"[" * DEEP + b"]" * DEEP + b","
    ),
    "deep objects in metadata": encode(BASE_CHAT)[:-1]
    + b', "metadata": '
    + b'{"a":' * DEEP
    + b"1"
    + b"}" * DEEP
    + b"}",
    "duplicate model, bad last": encode(BASE_CHAT)[:-1] + b', "model": "nope"}',
    "duplicate model, good last": b'{"model": "nope", ' + encode(BASE_CHAT)[1:],
    "duplicate stream": encode(BASE_CHAT)[:-1] + b', "stream": true}',
    "duplicate messages": encode(BASE_CHAT)[:-1] + b', "messages": []}',
    "trailing garbage": encode(BASE_CHAT) + b"x",
    "two objects": encode(BASE_CHAT) + encode(BASE_CHAT),
    "trailing comma": encode(BASE_CHAT)[:-1] + b",}",
    "single quotes": encode(BASE_CHAT).replace(b'"', b"'"),
    "comment": b"/* hi */" + encode(BASE_CHAT),
    "NUL byte": encode(BASE_CHAT).replace(b'"hi"', b'"h\x00i"'),
}


def test_hostile_json_is_refused(gate):
    assert sys.getrecursionlimit() < DEEP  # the nesting must be deeper than Python recurses
    assert_refused(gate, HOSTILE_BODIES.items(), lambda body: post(gate, body))
    assert_refused(gate, HOSTILE_BODIES.items(), lambda body: post(gate, body, EMBEDDINGS))


VALID = encode(BASE_CHAT)
AUTH = f"Bearer {KEY_ALICE}"


# ----- look-alike model names and attempts to choose the upstream -----

LOOK_ALIKES = [
    "gpt-test ",
    " gpt-test",
    "gpt-test\n",
    "gpt-test\t",
    "GPT-TEST",
    "Gpt-test",
    "gpt-Test",
    "gpt\u2010test",
    "gpt\u2013test",
    "gpt-t\u0435st",
    "g\u0440t-test",
    "\uff47\uff50\uff54-test",
    "gpt-test\u200b",
    "\u200bgpt-test",
    "gpt\u200d-test",
    "gpt-test\ufeff",
    "gpt-test\u00a0",
    "gpt-test\x00",
    "gpt-te\u0301st",
    "gpt-test/../gpt-test",
    "../gpt-test",
    "./gpt-test",
    "gpt-test/",
    "/gpt-test",
    "models/gpt-test",
    "openai/gpt-test",
    "fake/up-gpt",
    "gpt-test:latest",
    "gpt-latest",
    "gpt ",
    "GPT",
    "gpt2",
    "gpt-test@fake-gpt",
    "gpt-test#fake-gpt",
    "fake-gpt",
    "up-gpt",
    "gpt-test%20",
    "gpt%2Dtest",
    "embed ",
    "EMBED",
    "",
    "*",
    "gpt*",
    "gpt-test\\",
    "gpt-test?",
    "gpt-test,embed",
]


def test_look_alike_model_names_are_not_found(gate):
    assert_refused(
        gate,
        ((repr(n), n) for n in LOOK_ALIKES),
        lambda name: post(gate, encode(replaced(BASE_CHAT, ("model",), name))),
    )
    assert_refused(
        gate,
        ((repr(n), n) for n in LOOK_ALIKES),
        lambda name: post(gate, encode(replaced(BASE_EMBEDDINGS, ("model",), name)), EMBEDDINGS),
    )


UPSTREAM_CHOICES: dict[str, tuple[tuple, Any]] = {
    "api_base": (("api_base",), "http://127.0.0.1:9/v1"),
    "base_url": (("base_url",), "http://127.0.0.1:9/v1"),
    "api_key": (("api_key",), "sk-mine"),
    "api_version": (("api_version",), "2024-01-01"),
    "custom_llm_provider": (("custom_llm_provider",), "openai"),
    "extra_headers": (("extra_headers",), {"authorization": "Bearer sk-mine"}),
    "headers": (("headers",), {"x-target": "elsewhere"}),
    "user_config": (("user_config",), {"model_list": [{"model_name": "gpt-test"}]}),
    "litellm_params": (("litellm_params",), {"api_base": "http://127.0.0.1:9"}),
    "model_list": (("model_list",), []),
    "fallbacks": (("fallbacks",), ["other"]),
    "provider": (("provider",), "fake"),
    "channel": (("channel",), "fake-gpt"),
    "upstream_model": (("upstream_model",), "up-gpt"),
    "deployment_id": (("deployment_id",), "d1"),
    "azure_endpoint": (("azure_endpoint",), "http://127.0.0.1:9"),
    "aws_region_name": (("aws_region_name",), "us-east-1"),
    "mock_response": (("mock_response",), "hi"),
    "metadata.channel": (("metadata",), {"channel": "fake-gpt"}),
    "metadata.api_base": (("metadata",), {"api_base": "http://127.0.0.1:9"}),
    "metadata.provider": (("metadata",), {"provider": "fake"}),
}
CHANNEL_HEADERS = {"x-modelyard-channel": "fake-gpt", "x-modelyard-provider": "fake"}


@pytest.mark.parametrize("label", UPSTREAM_CHOICES)
@pytest.mark.parametrize(("path", "base"), [(CHAT, BASE_CHAT), (EMBEDDINGS, BASE_EMBEDDINGS)])
def test_client_cannot_choose_the_upstream_in_the_body(gate, label, path, base):
    field, value = UPSTREAM_CHOICES[label]
    response = post(gate, encode(replaced(base, field, value)), path)
    assert problem(gate, response) is None


@pytest.mark.parametrize("name", CHANNEL_HEADERS)
def test_client_cannot_choose_the_channel_by_header(gate, name):
    headers = [("authorization", AUTH), (name, CHANNEL_HEADERS[name])]
    assert problem(gate, post(gate, VALID, headers=headers)) is None


def test_corpus_sent_at_least_two_thousand_cases(request):
    module = sys.modules[__name__]
    selected = {item.originalname for item in request.session.items if item.module is module}
    if selected != {name for name in dir(module) if name.startswith("test_")}:
        pytest.skip("only part of the corpus was selected")
    assert SENT["cases"] >= MIN_CASES, SENT
