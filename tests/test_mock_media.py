"""The mock protocol's images, speech and transcriptions: valid files, deterministic."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import struct
import wave
import zlib

import pytest

from gateway.proxy.adapters.base import UploadFile
from gateway.proxy.adapters.mock_media import (
    MP3_FRAME,
    image_reply,
    png,
    speech_reply,
    transcription_reply,
    wav,
)
from tests.adapter_support import make_call


def call(endpoint: str, body: dict, files: dict | None = None):
    base = make_call(body, protocol="mock", base_url=None, secrets={}, upstream_model="mock-1")
    return dataclasses.replace(base, endpoint=endpoint, files=files or {})


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines) of a PNG, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        content = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + content) & 0xFFFFFFFF
        chunks[kind] = content
        position += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_png_is_a_valid_image_of_one_colour():
    width, height, raw = read_png(png(b"\x10\x20\x30"))
    assert (width, height) == (8, 8)
    assert raw == (b"\0" + b"\x10\x20\x30" * 8) * 8


def test_images_depend_on_prompt_and_count_and_repeat_exactly():
    one = image_reply(call("images.generations", {"prompt": "fox", "n": 2})).body["data"]
    again = image_reply(call("images.generations", {"prompt": "fox", "n": 2})).body["data"]
    other = image_reply(call("images.generations", {"prompt": "owl", "n": 2})).body["data"]
    assert one == again and one != other and one[0] != one[1]
    read_png(base64.b64decode(one[0]["b64_json"]))


def test_edits_depend_on_the_uploaded_image():
    def edit(image: bytes) -> str:
        files = {"image": UploadFile("i.png", image, "image/png")}
        return image_reply(call("images.edits", {"prompt": "p"}, files)).body["data"][0]

    assert edit(b"a") == edit(b"a") != edit(b"b")


async def collect(reply) -> bytes:
    return b"".join([chunk async for chunk in reply.chunks])


@pytest.mark.parametrize("fmt,content_type", [("wav", "audio/wav"), ("flac", "audio/wav")])
def test_speech_is_a_wav_streamed_in_chunks(fmt, content_type):
    reply = speech_reply(
        call("audio.speech", {"input": "hello world", "voice": "alloy", "response_format": fmt})
    )
    assert reply.content_type == content_type
    audio = asyncio.run(collect(reply))
    with wave.open(io.BytesIO(audio)) as reader:
        assert reader.getnframes() == int(24000 * 0.11)


def test_speech_as_mp3_is_whole_silent_frames_and_pcm_has_no_header():
    mp3 = asyncio.run(collect(speech_reply(call("audio.speech", {"input": "hi", "voice": "a"}))))
    assert len(mp3) % len(MP3_FRAME) == 0 and mp3.startswith(b"\xff\xfb")
    pcm = asyncio.run(
        collect(
            speech_reply(
                call("audio.speech", {"input": "hi", "voice": "a", "response_format": "pcm"})
            )
        )
    )
    assert not pcm.startswith(b"RIFF") and len(pcm) == 2 * int(24000 * 0.1)


@pytest.mark.parametrize(
    "fmt,start",
    [
        ("text", b"Mock transcription of "),
        ("srt", b"1\n00:00:00,000 --> 00:00:00,500\nMock"),
        ("vtt", b"WEBVTT\n\n00:00:00.000 --> 00:00:00.500\n"),
    ],
)
def test_transcription_formats_name_the_audio(fmt, start):
    files = {"file": UploadFile("a.wav", wav(0.5, b"\x01"), "audio/wav")}
    reply = transcription_reply(call("audio.transcriptions", {"response_format": fmt}, files))
    assert reply.content.startswith(start)
