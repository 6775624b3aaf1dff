"""The adapter for Alibaba Cloud Model Studio (DashScope) in its OpenAI-compatible mode.

Thinking is switched by `enable_thinking` (with `thinking_budget` for low/medium/high
efforts), from the channel's `thinking` option or, with `auto` (the default), from the
request's `reasoning_effort`. `reasoning_content` passes through as DashScope sends it;
streamed usage comes from `stream_options.include_usage`, which the base adapter asks for.
"""

from __future__ import annotations

from typing import Any

from gateway.catalog.protocols import PROTOCOLS
from gateway.proxy.adapters.base import Call
from gateway.proxy.adapters.openai import OpenAICompatible
from gateway.proxy.options import thinking


class DashScopeAdapter(OpenAICompatible):
    """OpenAI-shaped requests to DashScope's compatible-mode/v1 endpoints."""

    protocol = "dashscope"
    endpoints = PROTOCOLS["dashscope"].endpoints

    def shape_body(self, call: Call) -> dict[str, Any]:
        body = super().shape_body(call)
        if call.endpoint != "chat":
            return body
        wanted = thinking.wanted(call)
        if wanted is not None:
            body["enable_thinking"] = wanted
            budget = thinking.budget(call)
            if wanted and budget:
                body["thinking_budget"] = budget
        if body.get("reasoning_effort") in thinking.OFF_EFFORTS:
            body.pop("reasoning_effort")  # said by enable_thinking=false instead
        return body


ADAPTER = DashScopeAdapter
