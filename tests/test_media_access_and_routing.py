"""What the four media endpoints share, through the official SDK against the proxy on
loopback: keys, model visibility and type, methods, and which channels serve an endpoint."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from tests.conftest import KEY_ALICE, client
from tests.media_support import AUDIO, KEY_BOB, media

__all__ = ["media"]  # the fixture, imported for pytest

PNG = b"\x89PNG\r\n\x1a\n"
CALLS: dict[str, Callable[[openai.OpenAI, str], object]] = {
    "images.generations": lambda c, m: c.images.generate(model=m, prompt="p"),
    "images.edits": lambda c, m: c.images.edit(
        model=m, prompt="p", image=("a.png", PNG, "image/png")
    ),
    "audio.speech": lambda c, m: c.audio.speech.create(model=m, voice="alloy", input="hi").read(),
    "audio.transcriptions": lambda c, m: c.audio.transcriptions.create(
        model=m, file=("a.wav", AUDIO, "audio/wav")
    ),
}
MOCK_MODELS = {
    "images.generations": "mock-painter",
    "images.edits": "mock-editor",
    "audio.speech": "mock-voice",
    "audio.transcriptions": "mock-scribe",
}


@pytest.mark.parametrize("endpoint", CALLS)
def test_every_media_endpoint_needs_a_valid_key(media, endpoint):
    url, _ = media
    with pytest.raises(openai.AuthenticationError):
        CALLS[endpoint](client(url, "sk-nobody"), MOCK_MODELS[endpoint])
    CALLS[endpoint](client(url), MOCK_MODELS[endpoint])


@pytest.mark.parametrize("endpoint", CALLS)
@pytest.mark.parametrize("name", ["no-such-model", "bob-painter"])
def test_every_media_endpoint_hides_unknown_and_invisible_models(media, endpoint, name):
    url, _ = media
    with pytest.raises(openai.NotFoundError) as caught:
        CALLS[endpoint](client(url), name)
    assert caught.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("endpoint", CALLS)
def test_a_model_of_another_type_is_refused(media, endpoint):
    url, _ = media
    with pytest.raises(openai.BadRequestError) as caught:
        CALLS[endpoint](client(url), "chatty")
    assert caught.value.body["code"] == "model_type_mismatch"


def test_private_image_model_serves_its_owner(media):
    url, _ = media
    result = client(url, KEY_BOB).images.generate(model="bob-painter", prompt="p")
    assert result.data[0].b64_json


def test_media_endpoints_refuse_other_methods(media):
    url, _ = media
    response = httpx.get(
        f"{url}/v1/images/generations", headers={"Authorization": f"Bearer {KEY_ALICE}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_channels_whose_protocol_lacks_the_endpoint_are_passed_over(media):
    url, _ = media
    response = client(url).images.with_raw_response.edit(
        model="mixed-editor", prompt="p", image=("a.png", PNG, "image/png")
    )
    assert response.headers["x-modelyard-channel"] == "mock-mixed-editor"
    assert response.headers["x-modelyard-attempts"] == "1"


def test_a_model_without_a_channel_serving_the_endpoint_is_unavailable(media):
    url, _ = media
    with pytest.raises(openai.APIStatusError) as caught:
        client(url).audio.transcriptions.create(
            model="volc-scribe", file=("a.wav", AUDIO, "audio/wav")
        )
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "no_channel_available"
    assert "serves audio transcriptions" in caught.value.body["message"]
