"""Providers left unavailable at load: said once per provider per process (a summary line
on reload), shown in /readyz, and never a 500 for the requests that would have used them."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import openai
import pytest

from gateway.proxy.breaker import Breakers
from gateway.proxy.reload import CatalogDir, Holder
from tests.conftest import (
    ENV,
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)

BUNDLED = Path(__file__).parent.parent / "catalog"


def test_bundled_catalog_without_keys_says_each_provider_once_and_a_summary_per_reload(caplog):
    holder = Holder(CatalogDir(BUNDLED), Breakers(), environ={})
    with caplog.at_level(logging.WARNING, logger="modelyard.proxy"):
        for _ in range(5):
            assert holder.reload()
    lines = [r.getMessage() for r in caplog.records]
    per_provider = [line for line in lines if line.startswith("provider ")]
    summaries = [line for line in lines if "still unavailable" in line]
    unavailable = holder.status()["unavailable_providers"]
    assert len(unavailable) == 7 and set(unavailable.values()) == {"missing_secret"}
    assert len(per_provider) == 7 and len(set(per_provider)) == 7
    assert len(summaries) == 4 and all("7 provider(s)" in s for s in summaries)
    assert len(lines) == 11, lines


def two_channel_catalog(upstream_url: str, *, with_mock: bool) -> dict:
    providers = [
        provider("fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"})
    ]
    channels = [channel("fake-chat", "chat", "fake", priority="high")]
    if with_mock:
        providers.append(provider("mock", protocol="mock"))
        channels.append(channel("mock-chat", "chat", "mock", priority="low"))
    return snapshot_dict(
        providers=providers,
        models=[model("chat", capabilities=[])],
        channels=channels,
        consumers=[consumer("alice", KEY_ALICE)],
    )


@pytest.mark.parametrize("secret", ["upstream-secret\n", "upstream-secret\r\n"])
def test_secret_with_trailing_newline_fails_over_to_the_next_channel(upstream, secret):
    fake, url = upstream
    env = {**ENV, "MY_FAKE_KEY": secret}
    with running_proxy(two_channel_catalog(url, with_mock=True), environ=env) as (proxy, _):
        reply = client(proxy).chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.headers["x-modelyard-channel"] == "mock-chat"
        ready = httpx.get(f"{proxy}/readyz").json()
        assert ready["unavailable_providers"] == {"fake": "secret_invalid"}
        assert "upstream-secret" not in httpx.get(f"{proxy}/readyz").text
    assert fake.requests == []  # nothing with a broken Authorization header left the proxy


def test_secret_with_trailing_newline_and_no_other_channel_is_a_clear_503(upstream):
    _, url = upstream
    env = {**ENV, "MY_FAKE_KEY": "upstream-secret\n"}
    with running_proxy(two_channel_catalog(url, with_mock=False), environ=env) as (proxy, _):
        with pytest.raises(openai.APIStatusError) as caught:
            client(proxy).chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 503
    assert caught.value.code == "no_channel_available"
