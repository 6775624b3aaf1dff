"""What an images or audio request may ask of a model, checked against the model's properties.

Image sizes, qualities, styles and counts (`sizes`, `qualities`, `styles`, `max_images`);
speech streaming (capability `streaming`) and voices (the
client's voice name mapped to the upstream's through `voices`), `formats` and
`max_input_characters`; transcription `formats`, `languages` and `max_file_bytes`. A
property the model does not set does not limit the request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.catalog.protocols import ALSO_SERVED_BY
from gateway.catalog.snapshot import Model
from gateway.errors import CapabilityMissing, InvalidRequest, RequestTooLarge
from gateway.proxy.adapters.base import UploadFile
from gateway.proxy.multipart import field_name
from gateway.proxy.policy import UPSTREAM_FIELDS

#: The model type each media endpoint serves.
ENDPOINT_TYPES: Mapping[str, str] = {
    "images.generations": "image-generation",
    "images.edits": "image-edit",
    "audio.speech": "speech",
    "audio.transcriptions": "transcription",
}

Files = Mapping[str, UploadFile]


def _offered(values: Iterable[str]) -> str:
    return ", ".join(str(v) for v in values)


def _one_of(model: Model, body: Mapping[str, Any], name: str, prop: str, what: str) -> None:
    """400 when `body[name]` is given and not among the model's `properties[prop]`."""
    offered = model.properties.get(prop)
    value = body.get(name)
    if value is None or not offered or value in offered:
        return
    raise InvalidRequest(
        f"{what} `{value}` is not offered by model `{model.name}`; "
        f"choose one of: {_offered(offered)}",
        param=name,
        code=f"unsupported_{name}",
    )


def _check_type(model: Model, endpoint: str) -> None:
    """400 unless the model's type serves the endpoint, or its capability lets it."""
    wanted = ENDPOINT_TYPES[endpoint]
    if model.type == wanted:
        return
    also = ALSO_SERVED_BY.get(wanted)
    if also is not None and model.type == also[0]:
        if also[1] in model.capabilities:
            return
        raise InvalidRequest(
            f"model `{model.name}` is a {model.type} model without capability "
            f"`{also[1]}`, so it serves no {endpoint.replace('.', ' ')}",
            param="model",
            code="model_type_mismatch",
        )
    raise InvalidRequest(
        f"model `{model.name}` is a {model.type} model, not a {wanted} model",
        param="model",
        code="model_type_mismatch",
    )


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"`{name}` is required and must be a non-empty string", param=name)
    return value


def _count(body: dict[str, Any], model: Model) -> None:
    raw = body.get("n")
    if raw is None:
        return
    try:
        n = int(raw)
    except (TypeError, ValueError):
        n = 0
    if isinstance(raw, bool) or n < 1 or str(n) != str(raw).strip():
        raise InvalidRequest("`n` must be a whole number of at least 1", param="n")
    limit = model.properties.get("max_images")
    if limit is not None and n > limit:
        raise InvalidRequest(
            f"`n` is {n}, above the limit of {limit} images per request of model `{model.name}`",
            param="n",
            code="too_many_images",
        )
    body["n"] = n


def _images(body: dict[str, Any], files: Files, model: Model, edit: bool) -> None:
    _text(body, "prompt")
    if edit and not any(field_name(k) in ("image", "image[]") for k in files):
        raise InvalidRequest("`image` is required: upload the image to edit", param="image")
    _count(body, model)
    _one_of(model, body, "size", "sizes", "size")
    _one_of(model, body, "quality", "qualities", "quality")
    _one_of(model, body, "style", "styles", "style")


def _speech(body: dict[str, Any], files: Files, model: Model) -> None:
    text = _text(body, "input")
    streamed = (
        body.get("stream") not in (None, False, "false") or body.get("stream_format") == "sse"
    )
    if streamed and "streaming" not in model.capabilities:
        raise CapabilityMissing(
            f"model `{model.name}` does not support streaming (capability `streaming`)",
            param="stream",
        )
    limit = model.properties.get("max_input_characters")
    if limit is not None and len(text) > limit:
        raise InvalidRequest(
            f"`input` has {len(text)} characters, above the limit of {limit} "
            f"of model `{model.name}`",
            param="input",
            code="input_too_long",
        )
    voice = body.get("voice")
    voices = model.properties.get("voices")
    _one_of(model, body, "response_format", "formats", "audio format")
    if voice is None:
        return  # the channel's default_voice speaks (options/speech_defaults.py), or a 400
    if not isinstance(voice, str) or not voice:
        hint = f": one of {_offered(voices)}" if voices else ""
        raise InvalidRequest(f"`voice` is required{hint}", param="voice")
    if voices:
        if voice not in voices:
            raise InvalidRequest(
                f"voice `{voice}` is not offered by model `{model.name}`; "
                f"choose one of: {_offered(voices)}",
                param="voice",
                code="unsupported_voice",
            )
        body["voice"] = voices[voice]


def _transcription(body: dict[str, Any], files: Files, model: Model) -> None:
    audio = files.get("file")
    if audio is None:
        raise InvalidRequest("`file` is required: upload the audio to transcribe", param="file")
    limit = model.properties.get("max_file_bytes")
    if limit is not None and len(audio.content) > limit:
        raise RequestTooLarge(
            f"the audio file has {len(audio.content)} bytes, above the limit "
            f"of {limit} bytes of model `{model.name}`",
            param="file",
            code="file_too_large",
        )
    _one_of(model, body, "response_format", "formats", "response format")
    _one_of(model, body, "language", "languages", "language")


_CHECKS: Mapping[str, Callable[[dict[str, Any], Files, Model], None]] = {
    "images.generations": lambda b, f, m: _images(b, f, m, edit=False),
    "images.edits": lambda b, f, m: _images(b, f, m, edit=True),
    "audio.speech": _speech,
    "audio.transcriptions": _transcription,
}


def apply(model: Model, endpoint: str, body: Mapping[str, Any], files: Files) -> dict[str, Any]:
    """The request body as it goes to routing (voice mapped, `n` a number), or a 400/413."""
    forbidden = UPSTREAM_FIELDS.intersection(body)
    if forbidden:
        name = sorted(forbidden)[0]
        raise InvalidRequest(
            f"`{name}` may not be set: upstreams come only from the catalog",
            param=name,
            code="upstream_override_not_allowed",
        )
    _check_type(model, endpoint)
    if endpoint != "audio.speech" and body.get("stream") not in (None, False, "false"):
        raise InvalidRequest(
            f"`stream` is not supported on {endpoint.replace('.', ' ')}", param="stream"
        )
    shaped = dict(body)
    _CHECKS[endpoint](shaped, files, model)
    return shaped
