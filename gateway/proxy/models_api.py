"""`GET /v1/models` and `/v1/models/{id}`: the models a consumer may see, in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import ModelNotFound
from gateway.proxy import model_info
from gateway.proxy.exchange import Exchange, dumps
from gateway.proxy.reload import Loaded
from gateway.proxy.resolve import listed_models, resolve


async def list_models(ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
    data = [
        model_object(m, loaded.snapshot, consumer) for m in listed_models(loaded.snapshot, consumer)
    ]
    await ex.respond(200, dumps({"object": "list", "data": data}))


async def get_model(ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
    name = ex.scope["path"][len("/v1/models/") :]
    model = resolve(loaded.snapshot, name, consumer)
    if model.visibility == "internal":  # usable by name in requests, never described
        raise ModelNotFound(
            f"The model `{name}` does not exist or you do not have access to it.", param="model"
        )
    await ex.respond(200, dumps(model_object(model, loaded.snapshot, consumer)))


def model_object(
    model: Model, snapshot: Snapshot | None = None, consumer: Consumer | None = None
) -> Mapping[str, Any]:
    """A model in the OpenAI list shape, with the catalog's descriptive fields beside it and,
    given the snapshot, the extension fields (capabilities, properties, the consumer's price)."""
    out = {
        "id": model.name,
        "object": "model",
        "created": 0,
        "owned_by": model.owner.code,
        "display_name": model.display_name,
        "type": model.type,
        "vendor": model.vendor,
        "description": model.description,
        "aliases": list(model.aliases),
    }
    if snapshot is not None:
        out.update(model_info.extension_fields(snapshot, model, consumer))
    return out
