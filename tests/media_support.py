"""The proxy in front of the mock protocol and of a fake OpenAI media upstream, shared by the
tests of the four media endpoints (image generations and edits, speech, transcriptions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.proxy.adapters.mock_media import wav
from tests.conftest import (
    ENV,
    KEY_ALICE,
    channel,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.media import FakeOpenAIMedia
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
    """The proxy over `media_catalog`, one per test module: (proxy url, fake upstream)."""
    fake = FakeOpenAIMedia()
    with serve_asgi(fake.app) as fake_url:
        try:
            with running_proxy(media_catalog(f"{fake_url}/v1"), environ=ENV) as (url, _app):
                yield url, fake
        finally:
            fake.release()


def last(fake: FakeOpenAIMedia, path: str) -> dict:
    """The last request the fake upstream received on `path`."""
    return [r for r in fake.requests if r["path"] == path][-1]
