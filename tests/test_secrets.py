"""Provider secrets: ${ENV} references resolved at load, prefixes enforced, never shown."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gateway.catalog.snapshot import Provider, Snapshot
from gateway.proxy.secrets import resolve_all, resolve_provider
from tests.conftest import channel, holder_of, model, provider, snapshot_dict


def prov(auth: dict) -> Provider:
    return Provider("p", "openai", "http://x", auth, "overseas", {})


def test_references_are_resolved_from_the_environment():
    secrets = resolve_provider(
        prov({"type": "basic", "username": "svc-${ENV_USER}", "password": "${ENV_PASS}"}),
        {"ENV_USER": "bot", "ENV_PASS": "s3cret"},
        (),
    )
    assert dict(secrets) == {"type": "basic", "username": "svc-bot", "password": "s3cret"}


def test_secret_values_never_show_in_repr():
    secrets = resolve_provider(prov({"type": "bearer", "token": "${T}"}), {"T": "s3cret"}, ())
    assert "s3cret" not in repr(secrets) and "s3cret" not in str(secrets)


def test_missing_or_empty_variable_makes_provider_unavailable():
    assert resolve_provider(prov({"type": "bearer", "token": "${T}"}), {}, ()) == "missing_secret"
    assert (
        resolve_provider(prov({"type": "bearer", "token": "${T}"}), {"T": ""}, ())
        == "missing_secret"
    )


def test_names_outside_allowed_prefixes_are_refused():
    result = resolve_provider(
        prov({"type": "bearer", "token": "${HOME}"}), {"HOME": "/root"}, ("OPENAI_",)
    )
    assert result == "secret_not_allowed"


def test_unavailable_provider_is_logged_once_at_load_without_values(caplog):
    data = snapshot_dict(
        providers=[
            provider("p", base_url="http://x", auth={"type": "bearer", "token": "${GONE}"}),
            provider("q", base_url="http://y", auth={"type": "bearer", "token": "${HERE}"}),
        ],
        models=[model("m")],
        channels=[channel("c", "m", "p"), channel("d", "m", "q")],
    )
    resolved, unavailable = resolve_all(Snapshot.from_dict(data), {"HERE": "value-42"})
    assert unavailable == {"p": "missing_secret"} and set(resolved) == {"q"}
    with caplog.at_level(logging.WARNING, logger="modelyard.proxy"):
        holder_of(data, {"HERE": "value-42"})
    assert len(caplog.records) == 1 and "GONE" in caplog.text and "value-42" not in caplog.text


def test_secret_with_a_trailing_newline_or_other_control_character_is_invalid():
    auth = {"type": "bearer", "token": "${T}"}
    for bad in ("sk-live-123\n", "sk-live-123\r\n", "sk\x00live", "a\tb"):
        assert resolve_provider(prov(auth), {"T": bad}, ()) == "secret_invalid", repr(bad)
    assert isinstance(resolve_provider(prov(auth), {"T": "sk-live-123"}, ()), Mapping)
