"""Realtime policy per event through the proxy: the catalog's instructions, the voices a
model offers, and the tools it may use, applied to what the SDK's realtime client sends
(gateway/proxy/realtime_policy.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.realtime_support import WEATHER, sdk, setup, until
from tests.upstreams.realtime import FakeRealtime


def test_instructions_sent_before_the_first_event_when_the_client_sets_none() -> None:
    async def talk(url: str) -> None:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.response.create()
            await until(conn, "response.done")

    with setup(FakeRealtime()) as (url, (fake,)):
        asyncio.run(talk(url))
        events = fake.connections[0].events
    assert [e["type"] for e in events] == ["session.update", "response.create"]
    assert events[0]["session"] == {
        "type": "realtime",
        "instructions": "You work for Example Corp.\n\nKeep answers short.",
    }


def test_voice_not_offered_is_refused_with_an_error_event_and_not_relayed() -> None:
    async def talk(url: str) -> Any:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.session.update(
                session={"type": "realtime", "audio": {"output": {"voice": "ash"}}}
            )
            return (await until(conn, "error"))[-1]

    with setup(FakeRealtime()) as (url, (fake,)):
        error = asyncio.run(talk(url))
        events = fake.connections[0].events
    assert error.error.code == "unsupported_voice"
    assert "marin" in error.error.message
    assert not any(e["type"] == "session.update" and "audio" in e["session"] for e in events)


def test_native_tools_not_allowed_are_dropped_from_session_update() -> None:
    mcp = {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp"}

    async def talk(url: str) -> None:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER, mcp]})
            await until(conn, "session.updated")

    with setup(FakeRealtime()) as (url, (fake,)):
        asyncio.run(talk(url))
    update = next(e for e in fake.connections[0].events if e["type"] == "session.update")
    assert update["session"]["tools"] == [WEATHER]


def test_function_tools_need_the_tools_capability() -> None:
    async def talk(url: str) -> Any:
        async with sdk(url).realtime.connect(model="voice-mock") as conn:
            await conn.session.update(session={"type": "realtime", "tools": [WEATHER]})
            return (await until(conn, "error"))[-1]

    with setup() as (url, _):
        error = asyncio.run(talk(url))
    assert (error.error.code, error.error.param) == ("capability_not_supported", "session.tools")


def test_a_later_update_without_instructions_leaves_the_sessions_alone() -> None:
    async def talk(url: str) -> None:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.session.update(session={"type": "realtime", "instructions": "Pirate."})
            await until(conn, "session.updated")
            await conn.session.update(
                session={"type": "realtime", "audio": {"output": {"voice": "alloy"}}}
            )
            await until(conn, "session.updated")

    with setup(FakeRealtime()) as (url, (fake,)):
        asyncio.run(talk(url))
    first, second = (e["session"] for e in fake.connections[0].events)
    assert first["instructions"].endswith("Keep answers short.\n\nPirate.")
    assert "instructions" not in second
