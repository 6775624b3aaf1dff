"""Request bodies: size limit enforced while reading, JSON errors in OpenAI's shape."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from gateway.errors import RequestTooLarge
from gateway.proxy.body import read_body
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
    with running_proxy(standard_catalog(url, max_request_bytes=2048),
                       environ={"MY_FAKE_KEY": "k"}) as (proxy_url, _app):
        yield proxy_url


def test_large_request_gets_413_from_sdk(small_proxy):
    with pytest.raises(openai.APIStatusError) as info:
        client(small_proxy).chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x" * 5000}])
    assert info.value.status_code == 413
    assert info.value.code == "request_too_large"


def test_chunked_body_over_limit_gets_413(small_proxy):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    answer = httpx.post(f"{small_proxy}/v1/chat/completions", headers=AUTH, content=chunks())
    assert answer.status_code == 413


@pytest.mark.parametrize("body,param", [
    (b"{not json", None), (b"[1, 2]", None), (b"", None),
    (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
])
def test_invalid_json_and_missing_fields_get_400(small_proxy, body, param):
    answer = httpx.post(f"{small_proxy}/v1/chat/completions", headers=AUTH, content=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_unknown_path_and_wrong_method_are_openai_shaped(small_proxy):
    assert httpx.get(f"{small_proxy}/v1/nothing", headers=AUTH).json()["error"]["code"] == \
        "unknown_url"
    assert httpx.get(f"{small_proxy}/v1/chat/completions", headers=AUTH).status_code == 400
