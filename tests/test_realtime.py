"""Realtime sessions through the proxy: the official SDK's realtime client on one side, a
fake OpenAI realtime upstream (or the mock) on the other."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from gateway.catalog.snapshot import Snapshot
from tests.conftest import (
    KEY_ALICE,
    KEY_SERVICE,
    channel,
    consumer,
    model,
    poll,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.realtime_support import WEATHER, catalog, log_lines, sdk, setup, until
from tests.upstreams.realtime import FakeRealtime, serve_fake


def test_sdk_session_text_and_function_call_round_trip_priced(tmp_path: Path) -> None:
    usage_log = tmp_path / "usage.jsonl"

    async def talk(url: str) -> tuple[str, str, str]:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.session.update(
                session={
                    "type": "realtime",
                    "instructions": "Speak like a pirate.",
                    "tools": [WEATHER],
                    "output_modalities": ["text"],
                    "audio": {"output": {"voice": "marin"}},
                }
            )
            updated = (await until(conn, "session.updated"))[-1]
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Weather in Paris?"}],
                }
            )
            await conn.response.create()
            events = await until(conn, "response.done")
            call = next(e for e in events if e.type == "response.function_call_arguments.done")
            await conn.conversation.item.create(
                item={
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": json.dumps({"weather": "sunny"}),
                }
            )
            await conn.response.create()
            events = await until(conn, "response.done")
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            return updated.session.model, call.name, text

    with setup(FakeRealtime(), usage_log=usage_log) as (url, (fake,)):
        model_seen, called, text = asyncio.run(talk(url))
        poll(lambda: fake.connections and fake.connections[0].closed_at is not None)
        poll(lambda: len(log_lines(usage_log)) == 3)
    assert (model_seen, called, text.strip()) == ("voice", "get_weather", "It is sunny.")
    conn = fake.connections[0]
    assert conn.headers["authorization"] == "Bearer upstream-secret"
    assert "model=gpt-realtime-up" in conn.path
    update = next(e for e in conn.events if e["type"] == "session.update")
    assert update["session"]["instructions"] == (
        "You work for Example Corp.\n\nKeep answers short.\n\nSpeak like a pirate."
    )
    responses = [line for line in log_lines(usage_log) if line["usage"].get("input_tokens")]
    assert len(responses) == 2
    line = responses[0]
    assert (line["endpoint"], line["model"], line["channel"], line["consumer"]) == (
        "realtime",
        "voice",
        "rt0",
        "alice",
    )
    assert line["usage"] == {
        "input_tokens": 1000,
        "cached_input_tokens": 200,
        "output_tokens": 500,
        "audio_input_tokens": 600,
        "cached_audio_input_tokens": 100,
        "audio_output_tokens": 400,
    }
    # 300 text in × 4 + 500 audio in × 32 + 100 cached text × 0.4 + 100 cached audio × 0.4
    # + 100 text out × 16 + 400 audio out × 64, per million tokens
    assert line["cost"] == "0.04448"
    session = [line for line in log_lines(usage_log) if "session_seconds" in line["usage"]]
    assert len(session) == 1 and session[0]["request_id"] == line["request_id"]


def test_refused_connect_fails_over_to_the_next_channel() -> None:
    async def talk(url: str) -> str:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.response.create()
            events = await until(conn, "response.done")
            return "".join(e.delta for e in events if e.type == "response.output_text.delta")

    with setup(FakeRealtime(refuse=503), FakeRealtime()) as (url, (refusing, healthy)):
        text = asyncio.run(talk(url))
    assert text.strip() == "Hello there."
    assert refusing.refused == 1 and len(healthy.connections) == 1


def test_client_disconnect_closes_the_upstream_within_100_ms() -> None:
    async def talk(url: str) -> float:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
            additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        await asyncio.wait_for(ws.recv(), 5)  # session.created: the upstream is open
        await ws.close()
        return time.monotonic()

    with setup(FakeRealtime()) as (url, (fake,)):
        closed = asyncio.run(talk(url))
        poll(lambda: fake.connections[0].closed_at is not None, timeout=2)
        assert fake.connections[0].closed_at - closed < 0.1


def test_browser_subprotocol_key_authenticates_and_realtime_is_chosen() -> None:
    async def talk(url: str) -> tuple[str | None, str]:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice-mock",
            subprotocols=["realtime", f"openai-insecure-api-key.{KEY_ALICE}"],
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.close()
        return ws.subprotocol, first["type"]

    with setup() as (url, _):
        assert asyncio.run(talk(url)) == ("realtime", "session.created")


@pytest.mark.parametrize(
    "path, headers, status",
    [
        ("/v1/realtime?model=voice", {}, 401),
        ("/v1/realtime?model=nope", {"Authorization": f"Bearer {KEY_ALICE}"}, 404),
        ("/v1/realtime?model=chatty", {"Authorization": f"Bearer {KEY_ALICE}"}, 400),
        ("/v1/realtime", {"Authorization": f"Bearer {KEY_ALICE}"}, 400),
        ("/v1/elsewhere", {"Authorization": f"Bearer {KEY_ALICE}"}, 404),
    ],
)
def test_refused_upgrade_is_an_openai_shaped_http_error(
    path: str, headers: dict, status: int
) -> None:
    async def talk(url: str) -> InvalidStatus:
        with pytest.raises(InvalidStatus) as info:
            await connect(f"{url.replace('http', 'ws')}{path}", additional_headers=headers)
        return info.value

    with setup() as (url, _):
        error = asyncio.run(talk(url))
    assert error.response.status_code == status
    assert "message" in json.loads(error.response.body)["error"]


def test_mock_serves_text_audio_and_usage(tmp_path: Path) -> None:
    usage_log = tmp_path / "usage.jsonl"

    async def talk(url: str) -> list[Any]:
        async with sdk(url).realtime.connect(model="voice-mock") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello mock"}],
                }
            )
            await conn.response.create()
            return await until(conn, "response.done")

    with setup(usage_log=usage_log) as (url, _):
        events = asyncio.run(talk(url))
        poll(lambda: usage_log.exists() and len(log_lines(usage_log)) == 2)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Mock answer from mock-realtime: hello mock"
    audio = [e for e in events if e.type == "response.output_audio.delta"]
    assert len(audio) == 1 and len(audio[0].delta) > 100
    assert events[-1].response.usage.output_tokens > 0
    line = log_lines(usage_log)[0]
    assert line["usage"]["audio_output_tokens"] == 10 and line["cost"] != "0"


def test_idle_session_is_closed_with_an_error_event() -> None:
    async def talk(url: str) -> tuple[str, int | None]:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
            additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        events = [json.loads(m) async for m in ws]  # ends when the proxy closes
        return events[-1]["error"]["code"], ws.close_code

    with setup(FakeRealtime(), realtime_idle_timeout_s=0.3) as (url, (fake,)):
        assert asyncio.run(talk(url)) == ("idle_timeout", 1000)
        poll(lambda: fake.connections[0].closed_at is not None)


def test_oversized_frame_ends_the_session() -> None:
    async def talk(url: str) -> int | None:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
            additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 4096}))
        with pytest.raises(ConnectionClosedError):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code

    with setup(FakeRealtime(), realtime_max_frame_bytes=2048) as (url, _fakes):
        assert asyncio.run(talk(url)) == 1009


def test_reload_does_not_cut_an_open_session() -> None:
    async def talk(url: str, app: Any) -> tuple[str, int]:
        async with sdk(url).realtime.connect(model="voice-mock") as conn:
            await until(conn, "session.created")
            app.holder.install(Snapshot.from_dict(catalog([])))  # voice-mock left out below
            app.holder.install(
                Snapshot.from_dict(
                    snapshot_dict(
                        providers=[provider("mock", protocol="mock")],
                        models=[model("chatty")],
                        channels=[channel("chat-mock", "chatty", "mock")],
                        consumers=[consumer("alice", KEY_ALICE)],
                    )
                )
            )
            await conn.response.create()
            events = await until(conn, "response.done")
        with pytest.raises(InvalidStatus) as refused:
            await connect(
                f"{url.replace('http', 'ws')}/v1/realtime?model=voice-mock",
                additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
            )
        return events[-1].response.status, refused.value.response.status_code

    with ExitStack() as stack:
        url, app = stack.enter_context(running_proxy(catalog([])))
        assert asyncio.run(talk(url, app)) == ("completed", 404)


def test_azure_realtime_deployment_url_and_key() -> None:
    fake = FakeRealtime()

    async def talk(url: str) -> None:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await until(conn, "session.created")

    with serve_fake(fake) as base:
        data = catalog([])
        data = snapshot_dict(
            providers=[
                provider(
                    "az",
                    protocol="azure-openai",
                    base_url=base[: -len("/v1")],
                    auth={"type": "header", "header": "api-key", "value": "${RT_KEY}"},
                )
            ],
            models=[model("voice", type="realtime")],
            channels=[channel("rt-az", "voice", "az", upstream_model="my-deployment")],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data, environ={"RT_KEY": "azure-secret"}) as (url, _app):
            asyncio.run(talk(url))
    conn = fake.connections[0]
    assert conn.path == ("/openai/realtime?api-version=2025-04-01-preview&deployment=my-deployment")
    assert conn.headers["api-key"] == "azure-secret"


def test_beta_clients_get_the_beta_form_and_the_header_reaches_the_upstream() -> None:
    async def talk(url: str, model_name: str) -> list[dict]:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model={model_name}",
            additional_headers={
                "Authorization": f"Bearer {KEY_ALICE}",
                "OpenAI-Beta": "realtime=v1",
            },
        )
        await ws.send(json.dumps({"type": "response.create"}))
        events = []
        while not events or events[-1]["type"] != "response.done":
            events.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        await ws.close()
        return events

    with setup(FakeRealtime()) as (url, (fake,)):
        mock_events = asyncio.run(talk(url, "voice-mock"))
        asyncio.run(talk(url, "voice"))
    assert "response.text.delta" in [e["type"] for e in mock_events]
    conn = fake.connections[0]
    assert conn.headers["openai-beta"] == "realtime=v1"
    assert conn.events[0] == {
        "type": "session.update",
        "event_id": "event_proxy_instructions",
        "session": {"instructions": "You work for Example Corp.\n\nKeep answers short."},
    }


def test_audio_tokens_reach_the_metrics() -> None:
    async def talk(url: str) -> None:
        async with sdk(url).realtime.connect(model="voice") as conn:
            await conn.response.create()
            await until(conn, "response.done")

    def tokens(url: str, kind: str) -> float:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY_SERVICE}"}).text
        line = f'modelyard_tokens_total{{channel="rt0",kind="{kind}",model="voice"}} '
        found = [float(x[len(line) :]) for x in text.splitlines() if x.startswith(line)]
        return found[0] if found else 0.0

    with setup(FakeRealtime()) as (url, _fakes):
        before = tokens(url, "audio_output"), tokens(url, "audio_input")
        asyncio.run(talk(url))
        poll(lambda: tokens(url, "audio_output") > before[0])
        after = tokens(url, "audio_output"), tokens(url, "audio_input")
    assert (after[0] - before[0], after[1] - before[1]) == (400, 600)


def test_session_longer_than_allowed_expires(tmp_path: Path) -> None:
    usage_log = tmp_path / "usage.jsonl"

    async def talk(url: str) -> str:
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
            additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        events = []
        while True:  # keep the session busy: only its length can end it
            try:
                await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 0.05)))
            except TimeoutError:
                continue
            except ConnectionClosedOK:
                break
        while True:  # what arrived before the close
            try:
                events.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
            except ConnectionClosedOK:
                return events[-1]["error"]["code"]

    with setup(
        FakeRealtime(), usage_log=usage_log, realtime_max_session_s=0.4, realtime_idle_timeout_s=0.2
    ) as (url, _fakes):
        assert asyncio.run(talk(url)) == "session_expired"
        poll(lambda: usage_log.exists() and log_lines(usage_log))
    line = log_lines(usage_log)[-1]
    assert line["error_code"] == "session_expired"
    seconds = Decimal(line["usage"]["session_seconds"])
    assert Decimal("0.4") <= seconds < Decimal("2")
    assert Decimal(line["cost"]) == seconds * Decimal("0.36") / 3600  # the session_hour price


class RecordingGate:
    """An admission gate (the interface quotas implement) that admits and remembers."""

    def __init__(self) -> None:
        self.admitted: list[str] = []
        self.settled: list[tuple[int, Any, Any]] = []

    async def admit(self, routed: Any) -> Any:
        self.admitted.append(routed.model.name)
        gate = self

        class Ticket:
            headers = [(b"x-quota-remaining", b"7")]

            def settle(self, status: int, usage: Any, cost: Any) -> None:
                gate.settled.append((status, usage, cost))

        return Ticket()


def test_admission_gates_admit_the_connect_and_settle_the_session_total() -> None:
    gate = RecordingGate()

    async def talk(url: str) -> str:
        async with sdk(url).realtime.connect(model="voice") as conn:
            for _ in range(2):
                await conn.response.create()
                await until(conn, "response.done")
        ws = await connect(
            f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
            additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
        header = ws.response.headers["x-quota-remaining"]
        await ws.close()
        return header

    with (
        serve_fake(FakeRealtime()) as upstream,
        running_proxy(catalog([upstream]), environ={"RT_KEY": "k"}) as (url, app),
    ):
        app.pipeline.gates.append(gate)
        header = asyncio.run(talk(url))
        poll(lambda: len(gate.settled) == 2)
    assert header == "7" and gate.admitted == ["voice", "voice"]
    status, usage, cost = gate.settled[0]
    assert (status, usage.input_tokens, usage.audio_output_tokens) == (200, 2000, 800)
    assert cost.amount >= Decimal("0.08896")  # two responses' tokens, plus the open seconds


def test_plain_http_on_the_realtime_path_says_to_use_a_websocket() -> None:
    with setup() as (url, _):
        answer = httpx.get(
            f"{url}/v1/realtime?model=voice", headers={"Authorization": f"Bearer {KEY_ALICE}"}
        )
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "websocket_required")


def test_upstream_websockets_do_not_queue_behind_the_per_host_request_limit() -> None:
    from gateway.proxy.adapters.base import Deadline
    from gateway.proxy.upstream_http import AiohttpUpstream

    async def open_two(base: str) -> int:
        http = AiohttpUpstream(limit_per_host=1)
        url = base.replace("http", "ws") + "/realtime?model=x"
        deadline = Deadline(2, 2, time.monotonic() + 5)
        try:
            sockets = [
                await http.websocket(url, headers={}, deadline=deadline, max_frame_bytes=0)
                for _ in range(2)
            ]
            firsts = [json.loads(await s.receive() or "{}") for s in sockets]
            for s in sockets:
                await s.close()
            return sum(f.get("type") == "session.created" for f in firsts)
        finally:
            await http.aclose()

    with serve_fake(FakeRealtime()) as base:
        assert asyncio.run(open_two(base)) == 2


def test_model_without_a_channel_whose_protocol_serves_realtime_is_503() -> None:
    data = snapshot_dict(
        providers=[provider("claude", protocol="anthropic", base_url="http://127.0.0.1:9")],
        models=[model("voice", type="realtime")],
        channels=[channel("voice@claude", "voice", "claude")],
        consumers=[consumer("alice", KEY_ALICE)],
    )

    async def talk(url: str) -> InvalidStatus:
        with pytest.raises(InvalidStatus) as info:
            await connect(
                f"{url.replace('http', 'ws')}/v1/realtime?model=voice",
                additional_headers={"Authorization": f"Bearer {KEY_ALICE}"},
            )
        return info.value

    with running_proxy(data) as (url, _app):
        error = asyncio.run(talk(url))
    assert error.response.status_code == 503
    assert "realtime" in json.loads(error.response.body)["error"]["message"]
