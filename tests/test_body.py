"""Request bodies: size limit enforced while reading, JSON errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest, RequestTooLarge
from gateway.proxy.body import MAX_DEPTH, parse_json_object, read_body
from tests.conftest import KEY_ALICE, client, running_proxy, standard_catalog

AUTH = {"Authorization": f"Bearer {KEY_ALICE}"}


def test_body_over_limit_is_refused_before_it_is_all_read():
    received = []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    with pytest.raises(RequestTooLarge):
        asyncio.run(read_body(receive, 2500))
    assert len(received) == 3


def test_announced_length_over_limit_is_refused_without_reading():
    async def receive():
        raise AssertionError("must not read")

    with pytest.raises(RequestTooLarge):
        asyncio.run(read_body(receive, 100, content_length=101))


@pytest.fixture
def small_proxy(upstream):
    _, url = upstream
    with running_proxy(
        standard_catalog(url, max_request_bytes=2048), environ={"MY_FAKE_KEY": "k"}
    ) as (proxy_url, _app):
        yield proxy_url


def test_large_request_gets_413_from_sdk(small_proxy):
    with pytest.raises(openai.APIStatusError) as info:
        client(small_proxy).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x" * 5000}]
        )
    assert info.value.status_code == 413
    assert info.value.code == "request_too_large"


def test_chunked_body_over_limit_gets_413(small_proxy):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    answer = httpx.post(f"{small_proxy}/v1/chat/completions", headers=AUTH, content=chunks())
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "body,param",
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
    ],
)
def test_invalid_json_and_missing_fields_get_400(small_proxy, body, param):
    answer = httpx.post(f"{small_proxy}/v1/chat/completions", headers=AUTH, content=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_unknown_path_and_wrong_method_are_openai_shaped(small_proxy):
    assert (
        httpx.get(f"{small_proxy}/v1/nothing", headers=AUTH).json()["error"]["code"]
        == "unknown_url"
    )
    assert httpx.get(f"{small_proxy}/v1/chat/completions", headers=AUTH).status_code == 400


# ----- the pre-scan decides on decoded strings -----

ESCAPY = st.text(
    st.sampled_from(["\\", "u", "d", "8", "0", "c", "a", "😀", "\U0010fffd", '"', "x", "é", "\n"]),
    max_size=12,
)
JSON_DOCS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), ESCAPY),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(ESCAPY, inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(doc=st.dictionaries(ESCAPY, JSON_DOCS, max_size=4), ascii_only=st.booleans())
def test_every_valid_document_with_backslashes_and_astral_characters_passes(doc, ascii_only):
    body = json.dumps(doc, ensure_ascii=ascii_only).encode()
    assert parse_json_object(body) == doc


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
def test_nesting_up_to_the_limit_passes(depth):
    body = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    assert parse_json_object(body)["a"] is not None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 965, 5000])
def test_nesting_past_the_limit_is_refused_at_once(depth):
    body = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    with pytest.raises(InvalidRequest, match="nests deeper"):
        parse_json_object(body)


# ----- compact bodies (as the SDKs send them) take orjson's path; the verdict is the same -----

COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(doc=st.dictionaries(ESCAPY, JSON_DOCS, max_size=4))
def test_a_compact_body_reads_as_the_strict_parser_reads_it(doc):
    body = json.dumps(doc, **COMPACT).encode()
    assert parse_json_object(body) == parse_json_object(body + b" ") == doc


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1,"a":2}',
        b'{"model":"m","messages":[{"role":"user","content":"x","content":"y"}]}',
        b'{"a":{"b":1,"c":2,"b":1}}',
    ],
)
def test_a_compact_body_with_a_key_twice_is_refused(body):
    with pytest.raises(InvalidRequest, match="same key twice"):
        parse_json_object(body)


@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1])
def test_compact_and_spaced_bodies_share_the_depth_limit(depth):
    compact = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    verdicts = []
    for body in (compact, compact.replace(b":", b": ")):
        try:
            verdicts.append(parse_json_object(body) is not None)
        except InvalidRequest:
            verdicts.append(False)
    assert verdicts == [depth <= MAX_DEPTH] * 2


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
def test_integers_that_64_bits_hold_pass_both_ways(value):
    body = b'{"seed_like":%d}' % value
    assert parse_json_object(body) == parse_json_object(body + b" ") == {"seed_like": value}
