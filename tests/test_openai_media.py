"""Images and audio through the OpenAI-like adapters: URLs, JSON or multipart, audio chunks."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.errors import UpstreamStatusError
from gateway.proxy.adapters.base import UploadFile, adapter_class
from gateway.proxy.adapters.openai_media import form_fields
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.adapter_support import make_call
from tests.upstreams.media import read_form
from tests.upstreams.server import serve_asgi

AUDIO = bytes(range(256)) * 8 + b"\r\n--x--\r\n"


class Recorder:
    """An upstream that records raw requests and answers by path."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.answer, methods=["POST"])])

    async def answer(self, request: Request) -> Response:
        raw = await request.body()
        self.requests.append(
            {
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "raw": raw,
            }
        )
        if request.url.path.endswith("/audio/speech"):
            if b"fail" in raw:
                return JSONResponse({"error": {"message": "down"}}, status_code=503)

            async def audio():
                for i in range(3):
                    yield bytes([i]) * 100

            return StreamingResponse(audio(), media_type="audio/mpeg")
        return JSONResponse({"text": "ok", "duration": 1.5})


@pytest.fixture
def recorder():
    recorder = Recorder()
    with serve_asgi(recorder.app) as url:
        yield recorder, url


def run(protocol: str, call, consume=None):
    async def main():
        http = AiohttpUpstream()
        try:
            reply = await adapter_class(protocol)(http).send(call)
            if consume is not None:
                return reply, await consume(reply)
            return reply, None
        finally:
            await http.aclose()

    return asyncio.run(main())


def media_call(protocol: str, url: str, endpoint: str, body: dict, files=None, **kw):
    call = make_call(
        body,
        protocol=protocol,
        base_url=url,
        secrets={"type": "none"},
        upstream_model="whisper-dep",
        **kw,
    )
    return dataclasses.replace(call, endpoint=endpoint, files=files or {})


def test_azure_sends_a_transcription_to_the_deployment_without_a_model_field(recorder):
    fake, url = recorder
    files = {"file": UploadFile("talk.wav", AUDIO, "audio/wav")}
    call = media_call(
        "azure-openai",
        url,
        "audio.transcriptions",
        {"response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]},
        files,
        options={"api_version": "2024-10-21"},
    )
    reply, _ = run("azure-openai", call)
    sent = fake.requests[-1]
    assert sent["path"] == "/openai/deployments/whisper-dep/audio/transcriptions"
    assert sent["query"] == {"api-version": "2024-10-21"}
    fields, uploads = read_form(sent["raw"], sent["headers"]["content-type"])
    assert fields == {
        "response_format": "verbose_json",
        "timestamp_granularities[]": ["word", "segment"],
    }
    assert uploads == {"file": [("talk.wav", "audio/wav", AUDIO)]}
    assert reply.body == {"text": "ok", "duration": 1.5}


def test_openai_sends_speech_as_json_and_relays_the_audio_in_chunks(recorder):
    fake, url = recorder
    call = media_call("openai", url, "audio.speech", {"input": "hi", "voice": "onyx"})

    async def chunks(reply):
        return [chunk async for chunk in reply.chunks]

    reply, got = run("openai", call, chunks)
    assert reply.content_type == "audio/mpeg" and b"".join(got) == b"".join(
        bytes([i]) * 100 for i in range(3)
    )
    assert fake.requests[-1]["path"] == "/audio/speech"
    assert b'"model":"whisper-dep"' in fake.requests[-1]["raw"]


def test_speech_failing_before_any_audio_is_a_retryable_upstream_error(recorder):
    _, url = recorder
    call = media_call("openai", url, "audio.speech", {"input": "fail", "voice": "onyx"})
    with pytest.raises(UpstreamStatusError) as caught:
        run("openai", call)
    assert caught.value.retryable and caught.value.status == 503


@pytest.mark.parametrize(
    "protocol,serves",
    [
        ("openai", True),
        ("azure-openai", True),
        ("volcengine", False),
        ("dashscope", False),
        ("mock", True),
        ("anthropic", False),
        ("gemini", False),
    ],
)
def test_which_protocols_serve_image_edits_and_transcriptions(protocol, serves):
    endpoints = adapter_class(protocol).endpoints
    assert ({"images.edits", "audio.transcriptions"} <= endpoints) is serves
    assert "embeddings" in endpoints or protocol == "anthropic"


def test_form_fields_are_text():
    assert form_fields(
        {
            "n": 2,
            "stream": False,
            "x": None,
            "tags[]": ["a", 1],
            "chunking_strategy": {"type": "auto"},
        }
    ) == {"n": "2", "stream": "false", "tags[]": ["a", "1"], "chunking_strategy": '{"type":"auto"}'}
