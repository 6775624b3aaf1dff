"""Which model a consumer means, and which models it may see."""

from __future__ import annotations

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import ModelNotFound
from gateway.proxy.plan import owned_by


def usable(model: Model, consumer: Consumer) -> bool:
    """Whether `consumer` may call `model` (listed or not)."""
    if model.status != "active":
        return False
    if consumer.models is not None and model.name not in consumer.models:
        return False
    visibility = model.visibility
    if visibility == "public":
        return True
    if visibility == "internal":
        return "internal" in consumer.scopes
    return owned_by(model.owner, consumer)  # protected: owner org's members; private: owner


def resolve(snapshot: Snapshot, name: object, consumer: Consumer) -> Model:
    """The model `name` (a model name or alias) refers to for `consumer`, or a 404.

    Unknown, inactive and invisible models give the same answer, so a consumer cannot learn
    that someone else's private model exists.
    """
    model = snapshot.resolve_name(name) if isinstance(name, str) else None
    if model is None or not usable(model, consumer):
        raise ModelNotFound(
            f"The model `{name}` does not exist or you do not have access to it.", param="model"
        )
    return model


def listed_models(snapshot: Snapshot, consumer: Consumer) -> list[Model]:
    """The models `consumer` sees in /v1/models, in display order; never internal ones."""
    return [m for m in snapshot.models if m.visibility != "internal" and usable(m, consumer)]
