"""Speech channel defaults: `default_voice`, `default_format` and `sample_rate` options fill
what a speech request leaves out, per channel (upstreams name their voices differently)."""

from __future__ import annotations

import dataclasses

from gateway.errors import InvalidRequest
from gateway.proxy.adapters.base import Call

#: channel option -> request field it fills
DEFAULTS = {
    "default_voice": "voice",
    "default_format": "response_format",
    "sample_rate": "sample_rate",
}


def applies(call: Call) -> bool:
    return call.endpoint == "audio.speech"


def prepare(call: Call) -> Call:
    """The speech call with the channel's defaults filled in; a 400 when no voice is left."""
    body = dict(call.body)
    for option, name in DEFAULTS.items():
        value = call.channel.options.get(option)
        if value is not None and body.get(name) in (None, ""):
            body[name] = value
    if not isinstance(body.get("voice"), str) or not body["voice"]:
        voices = call.model.properties.get("voices") or {}
        hint = f": one of {', '.join(voices)}" if voices else ""
        raise InvalidRequest(f"`voice` is required{hint}", param="voice")
    return dataclasses.replace(call, body=body)
