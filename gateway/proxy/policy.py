"""What a request may ask of a model: capability checks, native tools, system prompts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import Model, NativeTool, Snapshot
from gateway.errors import CapabilityMissing, InvalidRequest
from gateway.proxy import prompt_size

#: Request fields with which a client would choose the upstream or its credentials.
UPSTREAM_FIELDS = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "custom_llm_provider",
        "azure_endpoint",
        "azure_ad_token",
        "deployment_id",
        "organization",
        "extra_headers",
        "headers",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "litellm_params",
        "model_list",
        "fallbacks",
        "mock_response",
        "provider",
        "upstream_model",
        "channel",
        "user_config",
        "router_settings",
        "api_type",
        "region_name",
    }
)

#: The model type each endpoint serves.
ENDPOINT_TYPES = {"chat": "chat", "embeddings": "embedding"}


@dataclass(slots=True, init=False)  # per request: read-only by convention (frozen costs 4x),
class Decision:  # a compiled __init__ (docs/development.md)
    """The request body as it goes to routing, and what policy took out of it."""

    body: dict[str, Any]
    native_tools: Mapping[str, NativeTool]
    dropped_tools: tuple[str, ...]

    def __init__(
        self,
        body: dict[str, Any],
        native_tools: Mapping[str, NativeTool] | None = None,
        dropped_tools: tuple[str, ...] = (),
    ) -> None:
        self.body = body
        self.native_tools = {} if native_tools is None else native_tools
        self.dropped_tools = dropped_tools


def _needs(model: Model, capability: str, what: str) -> None:
    if capability not in model.capabilities:
        raise CapabilityMissing(
            f"model `{model.name}` does not support {what} (capability `{capability}`)",
            param=capability,
        )


def _check_common(body: Mapping[str, Any], model: Model, endpoint: str) -> None:
    forbidden: set[str] = set(UPSTREAM_FIELDS.intersection(body))
    metadata = body.get("metadata")
    if not forbidden and isinstance(metadata, dict):
        forbidden = {f"metadata.{k}" for k in UPSTREAM_FIELDS.intersection(metadata)}
    if forbidden:
        name = sorted(forbidden)[0]
        raise InvalidRequest(
            f"`{name}` may not be set: upstreams come only from the catalog",
            param=name,
            code="upstream_override_not_allowed",
        )
    if ENDPOINT_TYPES[endpoint] != model.type:
        raise InvalidRequest(
            f"model `{model.name}` is a {model.type} model, not a {ENDPOINT_TYPES[endpoint]} model",
            param="model",
            code="model_type_mismatch",
        )


def _part_types(messages: list) -> set[str]:
    """The content part types of every message, and `cache_control` if any part carries it."""
    found: set[str] = set()
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict):
                    found.add(str(part.get("type")))
                    if "cache_control" in part:
                        found.add("cache_control")
    return found


def _calls_functions(body: Mapping[str, Any]) -> bool:
    tools = body.get("tools") or ()
    return bool(body.get("functions")) or any(
        isinstance(t, dict) and t.get("type") == "function" for t in tools
    )


def _check_parts(body: Mapping[str, Any], model: Model) -> None:
    parts = _part_types(body["messages"])
    if parts & {"image_url", "input_image"}:
        _needs(model, "image_input", "image input")
    if "input_audio" in parts:
        _needs(model, "audio_input", "audio input")
    if "cache_control" in parts or body.get("prompt_cache_key") is not None:
        _needs(model, "prompt_cache", "prompt caching")


def _check_tools(body: Mapping[str, Any], model: Model) -> None:
    if not _calls_functions(body):
        return
    _needs(model, "tools", "tool calling")
    if body.get("parallel_tool_calls") is True:
        _needs(model, "parallel_tool_calls", "parallel tool calls")
    if body.get("stream") and body.get("tool_choice") != "none":
        _needs(model, "stream_function_call", "tool calls in a stream")


def _check_size(body: Mapping[str, Any], model: Model) -> None:
    """Refuse a prompt surely over the model's limits (see gateway/proxy/prompt_size.py)."""
    limit = model.properties.get("max_output_tokens")
    asked = 0
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if isinstance(value, int):
            asked = max(asked, value)
            if limit is not None and value > limit:
                raise InvalidRequest(
                    f"`{name}` is {value}, above the limit of {limit} of model `{model.name}`",
                    param=name,
                    code="max_tokens_exceeded",
                )
    max_input = model.properties.get("max_input_tokens")
    context = model.properties.get("context_tokens")
    if max_input is None and context is None:
        return
    least = prompt_size.prompt_tokens(body["messages"])
    if max_input is not None and least > max_input:
        raise InvalidRequest(
            f"the prompt has at least {least} tokens, above the limit of "
            f"{max_input} input tokens of model `{model.name}`",
            param="messages",
            code="context_length_exceeded",
        )
    if context is not None and least + asked > context:
        raise InvalidRequest(
            f"the prompt has at least {least} tokens and {asked} more are asked "
            f"for, above the context length of {context} tokens of model "
            f"`{model.name}`",
            param="messages",
            code="context_length_exceeded",
        )


def _check_chat(body: Mapping[str, Any], model: Model) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("`messages` must be a non-empty list", param="messages")
    _check_parts(body, model)
    if body.get("stream"):
        _needs(model, "streaming", "streaming")
    _check_tools(body, model)
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        # Each is its own capability: a model with JSON mode may not follow a schema, and a
        # model with structured outputs is not assumed to take free JSON mode.
        _needs(model, fmt["type"], f"response_format {fmt['type']}")
    if body.get("reasoning_effort") is not None:
        _needs(model, "reasoning", "reasoning_effort")
    _check_size(body, model)


def _check_dimensions(body: Mapping[str, Any], model: Model) -> None:
    """`dimensions` may shorten a model's vectors, never lengthen them."""
    asked, most = body.get("dimensions"), model.properties.get("dimensions")
    if isinstance(asked, int) and isinstance(most, int) and asked > most:
        raise InvalidRequest(
            f"`dimensions` is {asked}, above the {most} dimensions of model `{model.name}`",
            param="dimensions",
            code="invalid_value",
        )


def _native_tools(body: dict[str, Any], model: Model, snapshot: Snapshot) -> Decision:
    """Keep the native tools the model allows; drop and name the rest."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return Decision(body)
    kept, allowed, dropped = [], {}, []
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function" or kind is None:
            kept.append(tool)
        elif kind in model.native_tools and kind in snapshot.native_tools:
            kept.append(tool)
            allowed[kind] = snapshot.native_tools[kind]
        else:
            dropped.append(str(kind))
    if not dropped:
        return Decision(body, allowed)
    body = dict(body)
    if kept:
        body["tools"] = kept
    else:
        body.pop("tools", None)
        body.pop("tool_choice", None)
    return Decision(body, allowed, tuple(dropped))


def _with_system_prompts(body: dict[str, Any], model: Model, snapshot: Snapshot) -> dict:
    prompts = [p for p in (snapshot.settings.system_prompt, model.system_prompt) if p]
    if not prompts:
        return body
    # One system message keeps upstreams that accept a single one working.
    return {
        **body,
        "messages": [{"role": "system", "content": "\n\n".join(prompts)}, *body["messages"]],
    }


def apply(snapshot: Snapshot, model: Model, body: dict[str, Any], endpoint: str) -> Decision:
    """Check `body` against `model` and shape it for routing, or raise a 400."""
    _check_common(body, model, endpoint)
    if endpoint == "embeddings":
        if body.get("input") in (None, "", []):
            raise InvalidRequest("`input` is required", param="input")
        _check_dimensions(body, model)
        return Decision(body)
    _check_chat(body, model)
    decision = _native_tools(body, model, snapshot)
    return Decision(
        _with_system_prompts(decision.body, model, snapshot),
        decision.native_tools,
        decision.dropped_tools,
    )


#: Native tools kept or dropped in any tools list (realtime sessions use it on their events).
filter_native_tools = _native_tools
