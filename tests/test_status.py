"""The status document and `modelyard status` against a loopback server serving one."""

from __future__ import annotations

import json
import random

import pytest
import typer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from cli.status_cmd import status
from gateway.catalog.snapshot import Breaker, Snapshot
from gateway.errors import NotReady
from gateway.proxy.breaker import Breakers, CircuitBreaker
from gateway.proxy.reload import Holder
from gateway.proxy.status import breaker_state, breaker_states, build_status, status_of
from gateway.usage.stats import Stats
from tests.conftest import channel, holder_of, model, provider, snapshot_dict
from tests.upstreams.server import serve_asgi

WALL = 1_764_000_000.0  # 2025-11-24T16:00:00Z


def small_snapshot() -> Snapshot:
    return Snapshot.from_dict(
        snapshot_dict(
            providers=[
                provider(
                    "up",
                    base_url="http://127.0.0.1:9/v1",
                    auth={"type": "bearer", "token": "${UP_KEY}"},
                ),
                provider("mock", protocol="mock"),
            ],
            models=[
                model("first", order=1),
                model("second", order=2),
                model("embed", type="embedding", visibility="internal", order=3),
                model("old", status="inactive", order=4),
            ],
            channels=[
                channel("first@up", "first", "up", priority="high"),
                channel("first@mock", "first", "mock"),
                channel("second@mock", "second", "mock", status="inactive"),
                channel("embed@mock", "embed", "mock"),
            ],
        )
    )


def stats_with_history() -> Stats:
    stats = Stats(clock=lambda: 150.0, wall=lambda: WALL)
    for latency in (0.1, 0.3, 0.2):
        stats.success("first@up", latency)
    stats.failure(
        "first@up",
        5.0,
        "upstream_timeout",
        "upstream 127.0.0.1 timed out; Authorization: Bearer sk-live-abcdefgh12345678",
    )
    return stats


def test_models_come_in_display_order_with_type_status_and_visibility() -> None:
    doc = build_status(small_snapshot(), {}, Stats(), loaded_at=WALL, last_reload_error=None)
    assert [m["name"] for m in doc["models"]] == ["first", "second", "embed", "old"]
    embed = doc["models"][2]
    assert (embed["type"], embed["status"], embed["visibility"]) == (
        "embedding",
        "active",
        "internal",
    )
    assert doc["models"][3]["status"] == "inactive"
    assert doc["digest"] == small_snapshot().digest
    assert doc["loaded_at"] == "2025-11-24T16:00:00Z"
    assert doc["schema"] == 1


def test_channels_carry_circuit_recent_rate_p50_and_sanitised_last_error() -> None:
    circuits = {
        "first@up": {
            "state": "open",
            "until": "2025-11-24T16:00:30Z",
            "retry_after_until": None,
            "failures": 5,
        }
    }
    doc = build_status(
        small_snapshot(),
        circuits,
        stats_with_history(),
        loaded_at=WALL,
        last_reload_error=None,
        unavailable={"up": "missing_secret"},
    )
    first = doc["models"][0]
    up, mock = first["channels"]
    assert up["name"] == "first@up" and up["priority"] == "high"
    assert up["circuit"]["state"] == "open" and up["circuit"]["until"] == "2025-11-24T16:00:30Z"
    assert up["recent"] == {
        "requests": 4,
        "failures": 1,
        "success_rate": 0.75,
        "p50_ms": 200.0,
        "p99_ms": 300.0,
    }
    assert sum(b["failures"] for b in up["series"]) == 1 and mock["series"] is None
    assert up["last_error"]["code"] == "upstream_timeout"
    assert "sk-live" not in up["last_error"]["message"]
    assert up["last_error"]["at"] == "2025-11-24T16:00:00Z"
    assert up["unavailable"] == "missing_secret"
    assert mock["circuit"]["state"] == "closed" and mock["recent"]["success_rate"] is None
    assert mock["last_error"] is None
    assert first["available_channels"] == 1  # first@up is both open and unavailable
    assert doc["models"][1]["available_channels"] == 0  # its only channel is inactive


def test_reload_error_is_passed_on_sanitised() -> None:
    doc = build_status(
        small_snapshot(),
        {},
        Stats(),
        loaded_at=None,
        last_reload_error={"message": "CatalogError: token=abc123def", "at": "x"},
    )
    assert doc["last_reload_error"] == {"message": "CatalogError: token=***", "at": "x"}


def test_breaker_state_reads_open_until_as_wall_time_and_half_open_after_cooldown() -> None:
    now = [50.0]
    breaker = CircuitBreaker(
        Breaker(failure_threshold=1, cooldown_s=30, max_cooldown_s=30),
        lambda: now[0],
        random.Random(1),
    )
    assert breaker_state(None, now=now[0], wall_now=WALL)["state"] == "closed"
    breaker.failure(retry_after=10)
    seen = breaker_state(breaker, now=now[0], wall_now=WALL)
    assert seen["state"] == "open" and seen["failures"] == 1
    assert "2025-11-24T16:00:2" in seen["until"] or "2025-11-24T16:00:3" in seen["until"]
    assert seen["retry_after_until"] == "2025-11-24T16:00:10Z"
    now[0] += 40
    later = breaker_state(breaker, now=now[0], wall_now=WALL + 40)
    assert later["state"] == "half_open" and later["until"] is None
    assert breaker.state == "open"  # reading the status changes nothing


def test_status_of_a_holder_uses_its_breakers_by_channel_name() -> None:
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("m")],
        channels=[channel("m@mock", "m", "mock")],
        settings={"breaker": {"failure_threshold": 1, "cooldown_s": 30, "max_cooldown_s": 30}},
    )
    holder = holder_of(data)
    loaded = holder.current
    key = loaded.breaker_keys["m@mock"]
    holder.breakers.get(key, loaded.snapshot.settings.breaker).failure()
    assert breaker_states(loaded, holder.breakers)["m@mock"]["state"] == "open"
    doc = status_of(holder, Stats())
    assert doc["models"][0]["channels"][0]["circuit"]["state"] == "open"
    assert doc["last_reload_error"] is None


def test_status_of_an_empty_holder_is_not_ready() -> None:
    with pytest.raises(NotReady):
        status_of(Holder(None, Breakers()), Stats())


# ----- the command, against a loopback server serving a status document -----

ADMIN_KEY = "sk-admin-0123456789"


def status_server(document: dict) -> Starlette:
    async def admin_status(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {ADMIN_KEY}":
            return JSONResponse(
                {
                    "error": {
                        "message": "admin scope required",
                        "type": "x",
                        "param": None,
                        "code": "permission_denied",
                    }
                },
                403,
            )
        return JSONResponse(document)

    return Starlette(routes=[Route("/admin/status", admin_status)])


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(status)
    app.command("noop")(lambda: None)  # two commands keep `status` a named sub-command
    return app


@pytest.fixture(scope="module")
def served() -> str:
    circuits = {
        "first@up": {
            "state": "open",
            "until": "2025-11-24T16:00:30Z",
            "retry_after_until": None,
            "failures": 5,
        }
    }
    doc = build_status(
        small_snapshot(),
        circuits,
        stats_with_history(),
        loaded_at=WALL,
        last_reload_error={"message": "refused: bad yaml", "at": "2025-11-24T16:01:00Z"},
    )
    with serve_asgi(status_server(json.loads(json.dumps(doc)))) as url:
        yield url


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli_app(), ["status", *args], env={"COLUMNS": "200", **(env or {})})


def test_status_command_renders_a_row_per_channel_with_circuit_rate_p50_and_error(served) -> None:
    result = invoke("--url", served, "--key", ADMIN_KEY)
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "first@up",
        "first@mock",
        "embed@mock",
        "open until 2025-11-24T16:00:30Z",
        "75.0 of 4",
        "200",
        "upstream_timeout",
        "inactive",
        "last reload refused",
        "bad yaml",
    ):
        assert text in out, text
    assert "sk-live" not in out


def test_status_command_reads_the_key_from_the_environment_and_prints_json(served) -> None:
    result = invoke("--url", served + "/", "--format", "json", env={"MODELYARD_KEY": ADMIN_KEY})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [m["name"] for m in doc["models"]] == ["first", "second", "embed", "old"]


def test_status_command_without_admin_key_exits_1_naming_the_refusal(served) -> None:
    result = invoke("--url", served, "--key", "sk-wrong-key-123")
    assert result.exit_code == 1
    assert "403" in result.output and "admin scope required" in result.output
    assert "sk-wrong-key-123" not in result.output


def test_status_command_exits_1_when_nothing_listens() -> None:
    from tests.upstreams.server import free_port

    result = invoke("--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.exit_code == 1
    assert "cannot reach" in result.output


def test_status_command_rejects_a_url_without_scheme() -> None:
    assert invoke("--url", "127.0.0.1:8080").exit_code == 2


# ----- through the real proxy -----


def test_status_command_through_the_proxy_shows_recorded_outcomes(upstream) -> None:
    import openai

    from tests.conftest import KEY_ALICE, client, consumer, running_proxy

    fake, url = upstream
    data = snapshot_dict(
        settings={"retry_budget": 0},
        providers=[provider("fake", base_url=url)],
        models=[model("m")],
        channels=[channel("m@fake", "m", "fake", upstream_model="up-m")],
        consumers=[
            consumer("ops", ADMIN_KEY, scopes=["public", "admin"]),
            consumer("alice", KEY_ALICE),
        ],
    )
    with running_proxy(data) as (proxy_url, _app):
        sdk = client(proxy_url, KEY_ALICE)
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        fake.push(500)
        with pytest.raises(openai.APIStatusError):
            sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        refused = invoke("--url", proxy_url, "--key", KEY_ALICE)
        shown = invoke("--url", proxy_url, "--key", ADMIN_KEY, "--format", "json")
    assert refused.exit_code == 1 and "403" in refused.output
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.output)["models"][0]["channels"][0]
    assert row["name"] == "m@fake"
    assert row["recent"]["requests"] == 2 and row["recent"]["success_rate"] == 0.5
    assert row["last_error"]["code"] == "upstream_error"
    assert row["circuit"]["state"] == "closed" and row["recent"]["p50_ms"] is not None
