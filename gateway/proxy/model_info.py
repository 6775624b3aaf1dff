"""What a client may learn about a model beyond OpenAI's list shape: the extension fields of
`/v1/models`, in the manner of OpenRouter's model list (`context_length`, `pricing`,
`supported_parameters`), so a client can build a model picker from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Consumer, Model, Price, Snapshot
from gateway.proxy.plan import plan_route

#: Request parameters each capability lets a client use (chat), for `supported_parameters`.
PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "tools": ("tools", "tool_choice"),
    "parallel_tool_calls": ("parallel_tool_calls",),
    "streaming": ("stream", "stream_options"),
    "json_object": ("response_format",),
    "json_schema": ("response_format",),
    "reasoning": ("reasoning_effort",),
    "prompt_cache": ("prompt_cache_key",),
}
CHAT_PARAMETERS = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)


def price_of(snapshot: Snapshot, model: Model, consumer: Consumer | None) -> Price | None:
    """The price `consumer` pays for `model`: that of the first priced channel in the order
    the proxy tries them for this consumer (its own channels first)."""
    plan = plan_route(snapshot, model, consumer, max_destination=None)
    return next((c.price for c in plan.failover_order() if c.price is not None), None)


def pricing(price: Price | None) -> dict[str, Any] | None:
    """The price as JSON: amounts as decimal strings, per `unit`, in `currency`."""
    if price is None:
        return None
    out: dict[str, Any] = {"currency": price.currency, "unit": price.unit}
    out.update({k: format(v, "f") for k, v in sorted(price.amounts.items())})
    if price.images:
        out["images"] = {
            size: {q: format(p, "f") for q, p in qs.items()}
            for size, qs in sorted(price.images.items())
        }
    return out


def supported_parameters(model: Model) -> list[str]:
    if model.type != "chat":
        return []
    found = set(CHAT_PARAMETERS)
    for capability in model.capabilities:
        found.update(PARAMETERS.get(capability, ()))
    return sorted(found)


def extension_fields(snapshot: Snapshot, model: Model, consumer: Consumer | None) -> dict[str, Any]:
    """The catalog's view of `model` for `consumer`, beside OpenAI's fields."""
    properties = dict(model.properties)
    return {
        "capabilities": sorted(model.capabilities),
        "native_tools": sorted(model.native_tools),
        "properties": properties,
        "context_length": properties.get("context_tokens"),
        "supported_parameters": supported_parameters(model),
        "tags": list(model.tags),
        "owner": {
            "type": model.owner.type,
            "code": model.owner.code,
            "name": model.owner.name or model.owner.code,
        },
        "pricing": pricing(price_of(snapshot, model, consumer)),
    }
