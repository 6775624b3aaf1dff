"""The fake OpenAI upstream with the images and audio endpoints added.

Multipart requests are read with the standard library's email parser (independently of the
proxy's own reader) and recorded as {"body": fields, "files": {name: [(filename,
content_type, bytes)]}}. Speech audio is streamed in three chunks; with `speech_gate` set,
the fake holds the rest back until the test opens the gate, which shows the proxy relays
audio as it arrives.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.upstreams.openai_like import FakeOpenAI

GATE_WAIT_S = 5.0
TRANSCRIPT = "the quick brown fox"
DURATION_S = 12.5


def read_form(raw: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, list]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    files: dict[str, list] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        if filename is None:
            text = payload.decode()
            old = fields.get(name)
            fields[name] = (
                text if old is None else [*old, text] if isinstance(old, list) else [old, text]
            )
        else:
            files.setdefault(name, []).append((filename, part.get_content_type(), payload))
    return fields, files


def speech_audio(model: str, voice: str, fmt: str) -> bytes:
    return f"AUDIO|{model}|{voice}|{fmt}|".encode() * 50


#: The usage gpt-image-1 reports with an image (the documented shape).
IMAGE_USAGE = {
    "total_tokens": 1106,
    "input_tokens": 50,
    "output_tokens": 1056,
    "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
}


class FakeOpenAIMedia(FakeOpenAI):
    """FakeOpenAI plus /v1/images/* and /v1/audio/*."""

    def __init__(self, name: str = "fake") -> None:
        super().__init__(name)
        self.speech_gate: threading.Event | None = None
        self.speech_finished = threading.Event()
        self.speech_abandoned = threading.Event()  # the proxy hung up before the audio ended
        self.app.router.routes.extend(
            [
                Route("/v1/images/generations", self._generations, methods=["POST"]),
                Route("/v1/images/edits", self._edits, methods=["POST"]),
                Route("/v1/audio/speech", self._speech, methods=["POST"]),
                Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            ]
        )

    async def _form(self, request: Request) -> tuple[dict, dict, Response | None]:
        fields, files = read_form(await request.body(), request.headers["content-type"])
        self.requests.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": fields,
                "files": files,
            }
        )
        behaviour = self._next(fields.get("model"))
        status = behaviour.get("status")
        if status is None:
            return fields, files, None
        error = behaviour.get("error") or {
            "message": f"{self.name} says {status}",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return fields, files, JSONResponse({"error": error}, status_code=status)

    @staticmethod
    def _images(body: dict, tag: str) -> Response:
        data = [
            {
                "b64_json": base64.b64encode(
                    f"{tag}|{body['model']}|{body.get('size')}|{body.get('quality')}|{i}".encode()
                ).decode()
            }
            for i in range(int(body.get("n") or 1))
        ]
        answer: dict[str, Any] = {"created": 1, "data": data}
        if str(body["model"]).startswith("gpt-image"):  # token-billed, as gpt-image-1 reports
            answer["usage"] = IMAGE_USAGE
        return JSONResponse(answer)

    async def _generations(self, request: Request) -> Response:
        body, _, early = await self._begin(request)
        return early or self._images(body, "generated")

    async def _edits(self, request: Request) -> Response:
        body, _, early = await self._form(request)
        return early or self._images(body, "edited")

    async def _speech(self, request: Request) -> Response:
        body, _, early = await self._begin(request)
        if early is not None:
            return early
        audio = speech_audio(body["model"], body["voice"], body.get("response_format", "mp3"))
        third = len(audio) // 3
        parts = [audio[:third], audio[third : 2 * third], audio[2 * third :]]
        gate = self.speech_gate

        async def chunks():
            try:
                for i, part in enumerate(parts):
                    if i == 1 and gate is not None:
                        await asyncio.to_thread(gate.wait, GATE_WAIT_S)
                    yield part
                self.speech_finished.set()
            finally:
                if not self.speech_finished.is_set():
                    self.speech_abandoned.set()

        return StreamingResponse(chunks(), media_type="audio/mpeg")

    async def _transcriptions(self, request: Request) -> Response:
        body, files, early = await self._form(request)
        if early is not None:
            return early
        fmt = body.get("response_format", "json")
        if fmt == "text":
            return PlainTextResponse(TRANSCRIPT + "\n")
        if fmt == "verbose_json":
            return JSONResponse(
                {
                    "task": "transcribe",
                    "language": "english",
                    "duration": DURATION_S,
                    "text": TRANSCRIPT,
                    "segments": [],
                }
            )
        return JSONResponse({"text": TRANSCRIPT})
