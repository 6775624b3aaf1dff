"""Speech end to end: the official SDK against the proxy on loopback, in front of the mock
protocol and of a fake OpenAI upstream; the audio streamed through as it arrives."""

from __future__ import annotations

import io
import threading
import time
import wave

import openai
import pytest

from tests.conftest import ENV, client, running_proxy
from tests.media_support import last, media, media_catalog
from tests.upstreams.media import FakeOpenAIMedia, speech_audio
from tests.upstreams.server import serve_asgi

__all__ = ["media"]  # the fixture, imported for pytest


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
