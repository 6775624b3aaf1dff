"""What a video request may ask of a model: its type, a prompt, and the sizes and clip
lengths (`sizes`, `durations_s`) its properties offer; a property not set does not limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Model
from gateway.errors import InvalidRequest
from gateway.proxy.policy import UPSTREAM_FIELDS


def _seconds(raw: Any) -> int | None:
    if raw is None:
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit() or int(text) < 1:
        raise InvalidRequest(
            '`seconds` must be a whole number of seconds, such as "4"', param="seconds"
        )
    return int(text)


def check(model: Model, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The create request's fields as they go to routing, or a 400."""
    forbidden = UPSTREAM_FIELDS.intersection(fields)
    if forbidden:
        name = sorted(forbidden)[0]
        raise InvalidRequest(
            f"`{name}` may not be set: upstreams come only from the catalog",
            param=name,
            code="upstream_override_not_allowed",
        )
    if model.type != "video-generation":
        raise InvalidRequest(
            f"model `{model.name}` is a {model.type} model, not a video-generation model",
            param="model",
            code="model_type_mismatch",
        )
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("`prompt` is required and must be a non-empty string", param="prompt")
    body = dict(fields)
    seconds = _seconds(fields.get("seconds"))
    offered = model.properties.get("durations_s")
    if seconds is not None:
        if offered and seconds not in offered:
            raise InvalidRequest(
                f"`seconds` {seconds} is not offered by model `{model.name}`; "
                f"choose one of: {', '.join(map(str, offered))}",
                param="seconds",
                code="unsupported_seconds",
            )
        body["seconds"] = str(seconds)
    size = fields.get("size")
    sizes = model.properties.get("sizes")
    if size is not None and sizes and size not in sizes:
        raise InvalidRequest(
            f"size `{size}` is not offered by model `{model.name}`; choose one "
            f"of: {', '.join(sizes)}",
            param="size",
            code="unsupported_size",
        )
    return body
