"""The adapter for Volcengine Ark: OpenAI-compatible, thinking switched by `thinking.type`.

The switch comes from the channel's `thinking` option, or (option `auto`, the default) from
the request's `reasoning_effort`: any effort enables thinking, `none`/`minimal` disables it,
no effort leaves the model's default. `reasoning_content` passes through as Ark sends it.
"""

from __future__ import annotations

from typing import Any

from gateway.catalog.protocols import PROTOCOLS
from gateway.proxy.adapters.base import Call
from gateway.proxy.adapters.openai import OpenAICompatible
from gateway.proxy.options import thinking


class VolcengineAdapter(OpenAICompatible):
    """OpenAI-shaped requests to Ark's /api/v3 endpoints."""

    protocol = "volcengine"
    endpoints = PROTOCOLS["volcengine"].endpoints

    def shape_body(self, call: Call) -> dict[str, Any]:
        body = super().shape_body(call)
        if call.endpoint != "chat":
            return body
        wanted = thinking.wanted(call)
        if wanted is not None:
            body["thinking"] = {"type": "enabled" if wanted else "disabled"}
        if body.get("reasoning_effort") in thinking.OFF_EFFORTS:
            body.pop("reasoning_effort")  # said by thinking.type=disabled instead
        return body


ADAPTER = VolcengineAdapter
