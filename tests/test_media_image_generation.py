"""Image generations end to end: the official SDK against the proxy on loopback, in front of
the mock protocol and of a fake OpenAI upstream."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.conftest import client
from tests.media_support import last, media

__all__ = ["media"]  # the fixture, imported for pytest


def test_image_generation_through_mock_returns_a_valid_png(media):
    url, _ = media
    result = client(url).images.generate(model="mock-painter", prompt="a red fox", n=2)
    images = [base64.b64decode(item.b64_json) for item in result.data]
    assert len(images) == 2 and all(i.startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    again = client(url).images.generate(model="mock-painter", prompt="a red fox", n=2)
    assert [i.b64_json for i in again.data] == [i.b64_json for i in result.data]


def test_image_generation_through_mock_answers_a_data_url_when_asked(media):
    url, _ = media
    result = client(url).images.generate(model="mock-painter", prompt="x", response_format="url")
    assert result.data[0].url.startswith("data:image/png;base64,iVBOR")


def test_image_generation_reaches_upstream_with_upstream_model_size_and_quality(media):
    url, fake = media
    answer = client(url).images.with_raw_response.generate(
        model="painter", prompt="a lighthouse", size="1792x1024", quality="hd", n=2
    )
    result = answer.parse()
    sent = last(fake, "/v1/images/generations")
    assert sent["body"] == {
        "model": "up-dalle",
        "prompt": "a lighthouse",
        "size": "1792x1024",
        "quality": "hd",
        "n": 2,
    }
    assert sent["headers"]["authorization"] == "Bearer upstream-secret"
    assert base64.b64decode(result.data[1].b64_json) == b"generated|up-dalle|1792x1024|hd|1"
    assert answer.headers["x-modelyard-channel"] == "fake-painter"


@pytest.mark.parametrize(
    "field,value,code",
    [("size", "512x512", "unsupported_size"), ("quality", "ultra", "unsupported_quality")],
)
def test_size_or_quality_the_model_does_not_offer_is_refused(media, field, value, code):
    url, _ = media
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).images.generate(model="painter", prompt="x", **{field: value})
    error = caught.value.body
    assert error["code"] == code and error["param"] == field
    assert ("1024x1024, 1792x1024" if field == "size" else "standard, hd") in error["message"]


def test_more_images_than_max_images_is_refused(media):
    url, fake = media
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).images.generate(model="painter", prompt="x", n=3)
    assert caught.value.body["code"] == "too_many_images"
    assert "limit of 2" in caught.value.body["message"]
    assert len(fake.requests) == before


def test_upstream_refusal_of_an_image_reaches_the_client(media):
    url, fake = media
    fake.push(
        {
            "status": 400,
            "error": {
                "message": "prompt rejected by safety system",
                "type": "invalid_request_error",
                "param": "prompt",
                "code": "content_policy_violation",
            },
        },
        model="up-dalle",
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).images.generate(model="painter", prompt="x")
    assert caught.value.body["code"] == "content_policy_violation"
