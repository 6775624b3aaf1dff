"""What a media request used: images by size and quality, characters, audio seconds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.catalog.snapshot import Model, Price
from gateway.proxy.adapters.base import Reply, UploadFile
from gateway.proxy.adapters.mock_media import wav
from gateway.proxy.media_usage import media_usage, wav_seconds
from gateway.usage.pricing import Usage, cost_of
from tests.conftest import model

PAINTER = Model.from_dict(
    model("p", type="image-generation", properties={"sizes": ["1024x1024", "1792x1024"]})
)
SCRIBE = Model.from_dict(model("s", type="transcription"))
IMAGES = Reply(body={"created": 1, "data": [{"b64_json": "x"}, {"b64_json": "y"}]})


def test_images_count_what_came_back_by_size_and_quality():
    usage = media_usage(
        "images.generations", PAINTER, {"size": "1792x1024", "quality": "hd", "n": 3}, {}, IMAGES
    )
    assert usage == Usage(images=(("1792x1024", "hd", 2),))


def test_images_without_a_size_count_at_the_models_first_size():
    usage = media_usage("images.edits", PAINTER, {}, {}, Reply(body={"data": [{}]}))
    assert usage.images == (("1024x1024", "auto", 1),)


def test_speech_counts_input_characters():
    usage = media_usage("audio.speech", PAINTER, {"input": "héllo"}, {}, Reply(content=b""))
    assert usage == Usage(characters=5)


def test_transcription_seconds_come_from_the_upstreams_duration():
    reply = Reply(body={"text": "t", "duration": 61.5})
    assert media_usage("audio.transcriptions", SCRIBE, {}, {}, reply) == Usage(
        audio_seconds=Decimal("61.5")
    )
    reply = Reply(body={"text": "t", "usage": {"type": "duration", "seconds": 7}})
    assert media_usage("audio.transcriptions", SCRIBE, {}, {}, reply).audio_seconds == 7


def test_transcription_seconds_are_estimated_from_a_wav_upload():
    files = {"file": UploadFile("a.wav", wav(1.25, b"\x01"), "audio/wav")}
    usage = media_usage("audio.transcriptions", SCRIBE, {}, files, Reply(body={"text": "t"}))
    assert usage == Usage(audio_seconds=Decimal("1.250"), estimated=True)


def test_transcription_seconds_of_other_audio_are_unknown():
    files = {"file": UploadFile("a.mp3", b"\xff\xfb\x90\xc0" * 10, "audio/mpeg")}
    usage = media_usage(
        "audio.transcriptions", SCRIBE, {}, files, Reply(content=b"t", content_type="text/plain")
    )
    assert usage == Usage(estimated=True) and usage.audio_seconds == 0


@pytest.mark.parametrize("data", [b"", b"RIFF", b"RIFF\0\0\0\0WAVEjunk", b"ID3" + bytes(50)])
def test_wav_seconds_of_anything_else_is_none(data):
    assert wav_seconds(data) is None


def test_image_usage_prices_with_the_price_books_image_table():
    price = Price.from_dict(
        {
            "currency": "USD",
            "unit": "per_image",
            "images": {
                "1024x1024": {"standard": "0.04", "hd": "0.08"},
                "1792x1024": {"standard": "0.08", "hd": "0.12"},
            },
        }
    )
    usage = media_usage(
        "images.generations", PAINTER, {"size": "1792x1024", "quality": "hd"}, {}, IMAGES
    )
    assert cost_of(usage, price).amount == Decimal("0.24")
    default = media_usage("images.generations", PAINTER, {}, {}, IMAGES)
    assert cost_of(default, price).amount == Decimal("0.08")  # 2 × 1024x1024 standard
