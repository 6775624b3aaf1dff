"""The images and audio endpoints end to end: the official SDK against the proxy on loopback,
in front of the mock protocol and of a fake OpenAI upstream."""

from __future__ import annotations

import base64
import io
import random
import threading
import time
import wave
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from gateway.proxy.adapters.mock_media import wav
from tests.conftest import (
    ENV,
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.media import DURATION_S, TRANSCRIPT, FakeOpenAIMedia, speech_audio
from tests.upstreams.server import serve_asgi

KEY_BOB = "sk-bob-media-0123"
IMAGE_PROPS = {
    "sizes": ["1024x1024", "1792x1024"],
    "qualities": ["standard", "hd"],
    "max_images": 2,
}
SPEECH_PROPS = {
    "voices": {"narrator": "onyx", "alloy": "alloy"},
    "formats": ["mp3", "wav"],
    "max_input_characters": 100,
}
SCRIBE_PROPS = {
    "formats": ["json", "text", "verbose_json", "srt", "vtt"],
    "max_file_bytes": 64 * 1024,
    "languages": ["en", "de"],
}
RNG = random.Random(7)
# Binary content with line breaks and boundary-like runs: what a naive reader would corrupt.
PICTURE = bytes(RNG.randrange(256) for _ in range(30_000)) + b"\r\n--\r\n\r\n"
AUDIO = wav(0.5, b"\x10")


def media_catalog(upstream_url: str, **settings: float) -> dict:
    """One model per media type on the fake upstream and one on the mock, plus a chat model."""

    def pair(name: str, kind: str, props: dict) -> list[dict]:
        return [
            model(name, type=kind, properties=props, capabilities=[]),
            model(f"mock-{name}", type=kind, properties=props, capabilities=[]),
        ]

    return snapshot_dict(
        settings=settings,
        providers=[
            provider(
                "fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"}
            ),
            provider("mock", protocol="mock"),
            provider("volc", protocol="volcengine", base_url="http://127.0.0.1:9/v3"),
        ],
        models=[
            *pair("painter", "image-generation", IMAGE_PROPS),
            *pair("editor", "image-edit", {**IMAGE_PROPS, "max_images": 4}),
            *pair("voice", "speech", SPEECH_PROPS),
            *pair("scribe", "transcription", SCRIBE_PROPS),
            model("chatty"),
            model("mixed-editor", type="image-edit", capabilities=[]),
            model("volc-scribe", type="transcription", capabilities=[]),
            model(
                "bob-painter",
                type="image-generation",
                visibility="private",
                owner={"type": "person", "code": "bob"},
                capabilities=[],
            ),
        ],
        channels=[
            channel("fake-painter", "painter", "fake", upstream_model="up-dalle"),
            channel("fake-editor", "editor", "fake", upstream_model="up-edit"),
            channel("fake-voice", "voice", "fake", upstream_model="up-tts", priority="high"),
            channel(
                "mock-voice-backup", "voice", "mock", upstream_model="backup-tts", priority="low"
            ),
            channel("fake-scribe", "scribe", "fake", upstream_model="up-whisper"),
            *[
                channel(f"mock-{n}", f"mock-{n}", "mock", upstream_model=f"mock-{n}-v1")
                for n in ("painter", "editor", "voice", "scribe")
            ],
            channel("mock-chatty", "chatty", "mock"),
            # volcengine serves no image edits or transcriptions: never tried for them
            channel("volc-editor", "mixed-editor", "volc", priority="high"),
            channel("mock-mixed-editor", "mixed-editor", "mock", priority="low"),
            channel("volc-scribe", "volc-scribe", "volc"),
            channel("mock-bob", "bob-painter", "mock"),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )


@pytest.fixture(scope="module")
def media() -> Iterator[tuple[str, FakeOpenAIMedia]]:
    """The proxy over `media_catalog`: (proxy url, fake upstream)."""
    fake = FakeOpenAIMedia()
    with serve_asgi(fake.app) as fake_url:
        try:
            with running_proxy(media_catalog(f"{fake_url}/v1"), environ=ENV) as (url, _app):
                yield url, fake
        finally:
            fake.release()


def last(fake: FakeOpenAIMedia, path: str) -> dict:
    return [r for r in fake.requests if r["path"] == path][-1]


# ----- image generation -----


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


# ----- image edits -----


def test_image_edit_reaches_upstream_as_multipart_with_the_file_intact(media):
    url, fake = media
    mask = bytes(range(256)) * 4
    result = client(url).images.edit(
        model="editor",
        prompt="add a hat",
        n=3,
        size="1024x1024",
        image=("cat.png", PICTURE, "image/png"),
        mask=("mask.png", mask, "image/png"),
    )
    sent = last(fake, "/v1/images/edits")
    assert sent["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["body"] == {
        "model": "up-edit",
        "prompt": "add a hat",
        "n": "3",
        "size": "1024x1024",
    }
    assert sent["files"] == {
        "image": [("cat.png", "image/png", PICTURE)],
        "mask": [("mask.png", "image/png", mask)],
    }
    assert len(result.data) == 3


def test_image_edit_with_several_images_keeps_their_order(media):
    url, fake = media
    first, second = PICTURE[:1000], PICTURE[1000:3000]
    client(url).images.edit(
        model="editor",
        prompt="combine",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
    )
    assert last(fake, "/v1/images/edits")["files"]["image[]"] == [
        ("a.png", "image/png", first),
        ("b.png", "image/png", second),
    ]


def test_image_edit_through_mock_depends_on_the_uploaded_image(media):
    url, _ = media

    def edit(image: bytes) -> str:
        return (
            client(url)
            .images.edit(model="mock-editor", prompt="p", image=("i.png", image, "image/png"))
            .data[0]
            .b64_json
        )

    assert edit(b"one") == edit(b"one") != edit(b"two")


def test_image_edit_without_an_image_is_refused(media):
    url, _ = media
    response = httpx.post(
        f"{url}/v1/images/edits",
        files={"prompt": (None, "p"), "model": (None, "editor")},
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "image"


def test_image_edit_that_is_not_multipart_is_refused(media):
    url, _ = media
    response = httpx.post(
        f"{url}/v1/images/edits",
        json={"model": "editor", "prompt": "p"},
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]


# ----- speech -----


def test_speech_is_streamed_through_as_it_arrives_with_the_voice_mapped(media):
    url, fake = media
    fake.speech_gate = gate = threading.Event()
    fake.speech_finished.clear()
    try:
        with client(url).audio.speech.with_streaming_response.create(
            model="voice", voice="narrator", input="Once upon a time"
        ) as response:
            chunks = response.iter_bytes()
            first = next(chunks)
            assert not fake.speech_finished.is_set()  # the upstream is still holding the rest
            gate.set()
            audio = first + b"".join(chunks)
            assert response.headers["content-type"] == "audio/mpeg"
    finally:
        gate.set()
        fake.speech_gate = None
    assert audio == speech_audio("up-tts", "onyx", "mp3")
    assert last(fake, "/v1/audio/speech")["body"] == {
        "model": "up-tts",
        "voice": "onyx",
        "input": "Once upon a time",
    }


def test_client_leaving_mid_speech_closes_the_upstream_stream(media):
    url, fake = media
    fake.speech_gate = gate = threading.Event()
    fake.speech_finished.clear()
    fake.speech_abandoned.clear()
    try:
        with client(url).audio.speech.with_streaming_response.create(
            model="voice", voice="alloy", input="a long story"
        ) as response:
            assert next(response.iter_bytes())
        # Leaving the block closes the connection with the rest of the audio unread.
        assert fake.speech_abandoned.wait(5) and not fake.speech_finished.is_set()
    finally:
        gate.set()
        fake.speech_gate = None


def test_unknown_voice_is_refused_listing_the_offered_voices(media):
    url, fake = media
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).audio.speech.create(model="voice", voice="onyx", input="hi")
    error = caught.value.body
    assert error["code"] == "unsupported_voice" and error["param"] == "voice"
    assert "narrator, alloy" in error["message"]
    assert len(fake.requests) == before


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"response_format": "flac"}, "unsupported_response_format"),
        ({"input": "x" * 101}, "input_too_long"),
    ],
)
def test_speech_outside_the_model_limits_is_refused(media, kwargs, code):
    url, _ = media
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).audio.speech.create(
            **{"model": "voice", "voice": "alloy", "input": "hi", **kwargs}
        )
    assert caught.value.body["code"] == code


def test_speech_through_mock_is_a_valid_wav(media):
    url, _ = media
    audio = (
        client(url)
        .audio.speech.create(
            model="mock-voice", voice="narrator", input="hello there", response_format="wav"
        )
        .read()
    )
    with wave.open(io.BytesIO(audio)) as reader:
        assert reader.getframerate() == 24000 and reader.getnframes() > 0


def test_speech_through_mock_defaults_to_mp3_frames(media):
    url, _ = media
    response = client(url).audio.speech.with_raw_response.create(
        model="mock-voice", voice="alloy", input="hello"
    )
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content.startswith(b"\xff\xfb")


# ----- transcription -----


def test_transcription_reaches_upstream_as_multipart_with_the_file_intact(media):
    url, fake = media
    result = client(url).audio.transcriptions.create(
        model="scribe",
        file=("talk.wav", AUDIO, "audio/wav"),
        language="en",
        timestamp_granularities=["word", "segment"],
        response_format="verbose_json",
    )
    sent = last(fake, "/v1/audio/transcriptions")
    assert sent["files"] == {"file": [("talk.wav", "audio/wav", AUDIO)]}
    assert sent["body"] == {
        "model": "up-whisper",
        "language": "en",
        "response_format": "verbose_json",
        "timestamp_granularities[]": ["word", "segment"],
    }
    assert result.text == TRANSCRIPT and result.duration == DURATION_S


def test_transcription_as_text_comes_back_as_plain_text(media):
    url, _ = media
    text = client(url).audio.transcriptions.create(
        model="scribe", file=("talk.wav", AUDIO, "audio/wav"), response_format="text"
    )
    assert text.strip() == TRANSCRIPT


def test_transcription_file_above_the_model_limit_is_refused(media):
    url, fake = media
    before = len(fake.requests)
    with pytest.raises(openai.APIStatusError) as caught:
        client(url).audio.transcriptions.create(
            model="scribe", file=("long.wav", bytes(64 * 1024 + 1), "audio/wav")
        )
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "file_too_large"
    assert len(fake.requests) == before


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"language": "fr"}, "unsupported_language"),
        ({"response_format": "diarized_json"}, "unsupported_response_format"),
    ],
)
def test_transcription_outside_the_model_offer_is_refused(media, kwargs, code):
    url, _ = media
    with pytest.raises(openai.BadRequestError) as caught:
        client(url).audio.transcriptions.create(
            model="scribe", file=("a.wav", AUDIO, "audio/wav"), **kwargs
        )
    assert caught.value.body["code"] == code


def test_transcription_through_mock_names_the_audio_it_got(media):
    url, _ = media
    result = client(url).audio.transcriptions.create(
        model="mock-scribe", file=("a.wav", AUDIO, "audio/wav"), response_format="verbose_json"
    )
    assert result.text.startswith(f"Mock transcription of {len(AUDIO)} bytes")
    assert result.duration == 0.5


# ----- what every media endpoint shares -----

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


def test_upstream_failure_before_any_audio_fails_over_to_the_next_channel(media):
    url, fake = media
    fake.push(503, model="up-tts")
    response = client(url).audio.speech.with_raw_response.create(
        model="voice", voice="alloy", input="hi"
    )
    assert response.headers["x-modelyard-channel"] == "mock-voice-backup"
    assert response.headers["x-modelyard-attempts"] == "2"
    assert response.content.startswith(b"\xff\xfb")  # the mock's MP3 frames


def test_speech_that_outlasts_the_total_deadline_is_cut_rather_than_completed():
    fake = FakeOpenAIMedia()
    fake.speech_gate = gate = threading.Event()  # never opened: the upstream stalls mid-audio
    with serve_asgi(fake.app) as fake_url:
        catalog = media_catalog(f"{fake_url}/v1", total_timeout_s=1.0)
        try:
            with running_proxy(catalog, environ=ENV) as (url, _app):
                started = time.monotonic()
                with client(url).audio.speech.with_streaming_response.create(
                    model="voice", voice="alloy", input="hi"
                ) as response:
                    chunks = response.iter_bytes()
                    assert next(chunks)
                    with pytest.raises(Exception, match="without sending complete message body"):
                        b"".join(chunks)  # the SDK's transport reports the cut
                assert time.monotonic() - started < 3
        finally:
            gate.set()
            fake.release()


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
