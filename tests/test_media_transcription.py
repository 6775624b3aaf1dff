"""Transcriptions end to end: the official SDK against the proxy on loopback, in front of the
mock protocol and of a fake OpenAI upstream; the uploaded audio reaches the upstream intact."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import client
from tests.media_support import AUDIO, last, media
from tests.upstreams.media import DURATION_S, TRANSCRIPT

__all__ = ["media"]  # the fixture, imported for pytest


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
