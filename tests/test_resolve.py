"""Resolve: names and aliases, visibility, allow-lists; invisible looks like missing."""

from __future__ import annotations

import pytest

from gateway.catalog.snapshot import Snapshot
from gateway.errors import ModelNotFound
from gateway.proxy.resolve import listed_models, resolve
from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    KEY_SERVICE,
    channel,
    consumer,
    model,
    provider,
    snapshot_dict,
)


@pytest.fixture
def snap() -> Snapshot:
    names = ["pub", "team", "inner", "mine", "off"]
    return Snapshot.from_dict(
        snapshot_dict(
            providers=[provider("p", protocol="mock")],
            models=[
                model("pub", aliases=["p1"], order=5),
                model(
                    "team", visibility="protected", owner={"type": "org", "code": "lab"}, order=1
                ),
                model("inner", visibility="internal"),
                model("mine", visibility="private", owner={"type": "person", "code": "alice"}),
                model("off", status="inactive"),
            ],
            channels=[channel(f"c-{n}", n, "p") for n in names],
            consumers=[
                consumer("alice", KEY_ALICE, orgs=["lab"]),
                consumer("bob", KEY_BOB, models=["pub"]),
                consumer("svc", KEY_SERVICE, scopes=["public", "internal"]),
            ],
        )
    )


def who(snap, name):
    return next(c for c in snap.consumers if c.name == name)


def test_alias_resolves_to_its_model(snap):
    assert resolve(snap, "p1", who(snap, "bob")).name == "pub"


@pytest.mark.parametrize(
    "name,consumer_name",
    [
        ("team", "bob"),
        ("inner", "alice"),
        ("mine", "svc"),
        ("off", "alice"),
        ("nope", "alice"),
        ("team", "svc"),
        (42, "alice"),
    ],
)
def test_invisible_inactive_and_unknown_all_raise_the_same_404(snap, name, consumer_name):
    with pytest.raises(ModelNotFound) as info:
        resolve(snap, name, who(snap, consumer_name))
    assert info.value.message == (
        f"The model `{name}` does not exist or you do not have access to it."
    )


def test_allow_list_limits_what_a_consumer_may_use(snap):
    bob = who(snap, "bob")
    assert [m.name for m in listed_models(snap, bob)] == ["pub"]


def test_listing_follows_display_order_and_never_shows_internal(snap):
    assert [m.name for m in listed_models(snap, who(snap, "alice"))] == ["team", "pub", "mine"]
    assert [m.name for m in listed_models(snap, who(snap, "svc"))] == ["pub"]
    assert resolve(snap, "inner", who(snap, "svc")).name == "inner"
