"""What a realtime response used, read from its `response.done` event.

`usage.input_tokens` counts text, audio and image input, cached ones included; the details
split it into text and audio and give the cached share (`cached_tokens_details` names the
audio part of that). Output likewise splits into text and audio.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.usage.pricing import Usage

#: How `response.done` is spelled in a frame: any frame that holds it is parsed.
DONE = '"response.done"'


def _int(mapping: Any, key: str) -> int:
    value = mapping.get(key) if isinstance(mapping, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(usage: Mapping[str, Any]) -> Usage:
    """A realtime `usage` object as our Usage."""
    inputs = usage.get("input_token_details") or {}
    outputs = usage.get("output_token_details") or {}
    cached_details = inputs.get("cached_tokens_details") if isinstance(inputs, Mapping) else None
    return Usage(
        input_tokens=_int(usage, "input_tokens"),
        cached_input_tokens=_int(inputs, "cached_tokens"),
        output_tokens=_int(usage, "output_tokens"),
        audio_input_tokens=_int(inputs, "audio_tokens"),
        cached_audio_input_tokens=_int(cached_details, "audio_tokens"),
        audio_output_tokens=_int(outputs, "audio_tokens"),
    )


def response_done(text: str) -> tuple[str | None, Usage] | None:
    """(response id, usage) of a `response.done` frame; None for any other frame."""
    if DONE not in text:
        return None
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != "response.done":
        return None
    response = event.get("response")
    if not isinstance(response, dict):
        return None, Usage()
    usage = response.get("usage")
    rid = response.get("id")
    return (
        rid if isinstance(rid, str) else None,
        usage_of(usage) if isinstance(usage, dict) else Usage(),
    )


def add(total: Usage, more: Usage) -> Usage:
    """The token counts of two realtime usages added up (a session's total)."""
    return Usage(
        input_tokens=total.input_tokens + more.input_tokens,
        cached_input_tokens=total.cached_input_tokens + more.cached_input_tokens,
        output_tokens=total.output_tokens + more.output_tokens,
        audio_input_tokens=total.audio_input_tokens + more.audio_input_tokens,
        cached_audio_input_tokens=(
            total.cached_audio_input_tokens + more.cached_audio_input_tokens
        ),
        audio_output_tokens=total.audio_output_tokens + more.audio_output_tokens,
    )
