"""Route planning: candidate groups, exclusions with reasons, weighted order."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.catalog.snapshot import Consumer, Snapshot
from gateway.proxy.plan import ordered_attempts, plan_route
from tests.conftest import KEY_ALICE, KEY_BOB, channel, consumer, model, provider, snapshot_dict


@pytest.fixture
def snap() -> Snapshot:
    return Snapshot.from_dict(
        snapshot_dict(
            providers=[
                provider("eu", data_destination="inner"),
                provider("us", data_destination="overseas"),
                provider("cn", data_destination="mainland"),
            ],
            models=[model("chat")],
            channels=[
                channel("hi-a", "chat", "eu", priority="high", weight=3),
                channel("hi-b", "chat", "cn", priority="high", weight=1),
                channel("hi-zero", "chat", "eu", priority="high", weight=0),
                channel("norm", "chat", "us"),
                channel("low", "chat", "eu", priority="low"),
                channel("off", "chat", "eu", priority="high", status="inactive"),
                channel("alice-own", "chat", "us", owner={"type": "person", "code": "alice"}),
                channel("team", "chat", "eu", owner={"type": "org", "code": "research"}),
            ],
            consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB, orgs=["research"])],
        )
    )


def who(snap: Snapshot, name: str) -> Consumer:
    return next(c for c in snap.consumers if c.name == name)


def names(members) -> list[str]:
    return [c.name for c, _ in members]


def test_groups_put_own_private_channels_first_then_priority_classes(snap):
    plan = plan_route(snap, "chat", who(snap, "alice"), max_destination=None)
    assert [g for g, _ in plan.groups] == ["private-normal", "high", "normal", "low"]
    assert names(plan.groups[0][1]) == ["alice-own"]
    assert names(plan.groups[1][1]) == ["hi-a", "hi-b", "hi-zero"]


def test_exclusions_name_their_reason(snap):
    plan = plan_route(snap, "chat", who(snap, "alice"), max_destination="inner")
    reasons = {c.name: r for c, r in plan.excluded}
    assert reasons["off"] == "inactive"
    assert reasons["team"] == "owner"
    assert reasons["hi-b"].startswith("data_destination")
    assert reasons["norm"].startswith("data_destination")
    assert reasons["alice-own"].startswith("data_destination")


def test_org_owned_channel_serves_org_members(snap):
    plan = plan_route(snap, "chat", who(snap, "bob"), max_destination=None)
    assert names(plan.groups[0][1]) == ["team"]


def test_without_consumer_private_channels_are_excluded(snap):
    plan = plan_route(snap, "chat", None, max_destination=None)
    assert {c.name for c, r in plan.excluded if r == "owner"} == {"alice-own", "team"}


def test_consumer_limit_cannot_be_widened_by_request():
    data = snapshot_dict(
        providers=[provider("us")],
        models=[model("m")],
        channels=[channel("c", "m", "us")],
        consumers=[consumer("a", KEY_ALICE, max_data_destination="inner")],
    )
    snap = Snapshot.from_dict(data)
    plan = plan_route(snap, "m", snap.consumers[0], max_destination="overseas")
    assert plan.empty and plan.excluded[0][1].startswith("data_destination")


def test_is_available_reason_excludes_channel(snap):
    plan = plan_route(
        snap,
        "chat",
        None,
        max_destination=None,
        is_available=lambda c: "circuit_open" if c.name == "hi-a" else None,
    )
    assert ("hi-a", "circuit_open") in [(c.name, r) for c, r in plan.excluded]


def test_first_choice_probabilities_follow_weights_of_first_group(snap):
    probs = plan_route(snap, "chat", None, max_destination=None).first_choice_probabilities()
    assert probs == {"hi-a": 0.75, "hi-b": 0.25, "hi-zero": 0.0, "norm": 0.0, "low": 0.0}


def test_weight_shares_over_many_plans_within_two_points(snap):
    # 2,000 draws with a fixed seed; the observed share must be within 0.02 of the weight share.
    plan = plan_route(snap, "chat", None, max_destination=None)
    rng = random.Random(7)
    firsts = Counter(ordered_attempts(plan, rng)[0].name for _ in range(2000))
    assert abs(firsts["hi-a"] / 2000 - 0.75) < 0.02
    assert abs(firsts["hi-b"] / 2000 - 0.25) < 0.02


def test_ordered_attempts_keep_groups_and_put_weight_zero_last(snap):
    plan = plan_route(snap, "chat", who(snap, "alice"), max_destination=None)
    for seed in range(20):
        order = [c.name for c in ordered_attempts(plan, random.Random(seed))]
        assert order[0] == "alice-own"
        assert set(order[1:3]) == {"hi-a", "hi-b"}
        assert order[3:] == ["hi-zero", "norm", "low"]


def test_failover_order_is_static(snap):
    plan = plan_route(snap, "chat", None, max_destination=None)
    assert [c.name for c in plan.failover_order()] == ["hi-a", "hi-b", "hi-zero", "norm", "low"]


def test_group_of_only_fallbacks_shares_evenly():
    data = snapshot_dict(
        providers=[provider("p")],
        models=[model("m")],
        channels=[channel("a", "m", "p", weight=0), channel("b", "m", "p", weight=0)],
    )
    plan = plan_route(Snapshot.from_dict(data), "m", None, max_destination=None)
    assert plan.first_choice_probabilities() == {"a": 0.5, "b": 0.5}
    rng = random.Random(1)
    firsts = Counter(ordered_attempts(plan, rng)[0].name for _ in range(400))
    assert 150 < firsts["a"] < 250


def test_own_channels_keep_their_priority_classes_ahead_of_public_ones():
    snap = Snapshot.from_dict(
        snapshot_dict(
            providers=[provider("p")],
            models=[model("chat")],
            channels=[
                channel(
                    "own-low",
                    "chat",
                    "p",
                    priority="low",
                    owner={"type": "person", "code": "alice"},
                ),
                channel(
                    "own-high",
                    "chat",
                    "p",
                    priority="high",
                    owner={"type": "person", "code": "alice"},
                ),
                channel("public-high", "chat", "p", priority="high"),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
    )
    plan = plan_route(snap, "chat", who(snap, "alice"), max_destination=None)
    assert [(g, names(m)) for g, m in plan.groups] == [
        ("private-high", ["own-high"]),
        ("private-low", ["own-low"]),
        ("high", ["public-high"]),
    ]
    orders = Counter(
        tuple(c.name for c in ordered_attempts(plan, random.Random(seed))) for seed in range(50)
    )
    assert orders == {("own-high", "own-low", "public-high"): 50}
