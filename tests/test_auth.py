"""Auth: keys from Bearer or x-api-key, matched by sha256 digest; inactive consumers refused."""

from __future__ import annotations

import pytest

from gateway.catalog.snapshot import Snapshot
from gateway.errors import AuthenticationFailed
from gateway.proxy.auth import authenticate, presented_key
from tests.conftest import KEY_ALICE, KEY_BOB, channel, consumer, model, provider, snapshot_dict


@pytest.fixture
def snap() -> Snapshot:
    return Snapshot.from_dict(
        snapshot_dict(
            providers=[provider("p", protocol="mock")],
            models=[model("m")],
            channels=[channel("c", "m", "p")],
            consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB, status="inactive")],
        )
    )


@pytest.mark.parametrize(
    "headers,key",
    [
        ([(b"authorization", b"Bearer k1")], "k1"),
        ([(b"authorization", b"bearer  k2 ")], "k2"),
        ([(b"x-api-key", b"k3")], "k3"),
        ([(b"x-api-key", b"k4"), (b"authorization", b"Bearer k5")], "k5"),
        ([(b"authorization", b"Basic abc")], None),
        ([], None),
    ],
)
def test_presented_key_prefers_bearer_then_x_api_key(headers, key):
    assert presented_key(headers) == key


def test_key_digest_finds_the_consumer(snap):
    assert authenticate(snap, [(b"authorization", f"Bearer {KEY_ALICE}".encode())]).name == "alice"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer nope")],
        [(b"x-api-key", KEY_BOB.encode())],
    ],
)
def test_missing_unknown_or_inactive_key_is_refused(snap, headers):
    with pytest.raises(AuthenticationFailed) as info:
        authenticate(snap, headers)
    assert info.value.status == 401 and KEY_BOB not in info.value.message
