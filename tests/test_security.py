"""Security invariants: client credentials never reach an upstream, channel secrets never leak,
every route but health needs a key whatever the Host header or path spelling says.

Canary values are unique strings; each test drives the proxy through success and error paths
and then searches everything observable (upstream requests, logs, answers, reprs, snapshot,
diff output) for them.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from gateway.catalog.compile import build
from gateway.catalog.snapshot import canonical_json
from gateway.proxy import endpoints
from gateway.proxy.adapters.base import Call, Deadline
from gateway.proxy.app import ProxyApp
from tests.conftest import channel, consumer, model, provider, running_proxy, snapshot_dict
from tests.upstreams.faulty import FaultyOpenAI, faulty_upstream

CLIENT_KEY = "sk-canary-client-key-4b1d"
ADMIN_KEY = "sk-admin-key-for-metrics-2c7d"
CLIENT_CANARIES = {
    "authorization": f"Bearer {CLIENT_KEY}",
    "x-api-key": "canary-x-api-key-77e0",
    "api-key": "canary-api-key-31f9",
    "x-goog-api-key": "canary-goog-key-c4a2",
    "proxy-authorization": "Basic canary-proxy-auth-0d5e",
    "cookie": "session=canary-cookie-9a61",
}
SECRETS = {"SEC_MAIN_KEY": "canary-secret-main-5f02", "SEC_OTHER_KEY": "canary-secret-other-e8c7"}
PUBLIC_PATHS = {"/healthz", "/readyz"}
USER = [{"role": "user", "content": "hi"}]


def canaries_in(text: str, canaries) -> list[str]:
    return [c for c in canaries if c in text]


def client_canaries() -> list[str]:
    return [CLIENT_KEY, *(v.split(" ")[-1].split("=")[-1] for v in CLIENT_CANARIES.values())]


def security_catalog(main: str, other: str, keyless: str) -> dict:
    """Model m: a on `main` (high), b on `other` (header auth); k on a provider whose secret is
    missing (never callable). Model lonely: only k."""
    return snapshot_dict(
        settings={
            "connect_timeout_s": 0.5,
            "first_byte_timeout_s": 0.5,
            "total_timeout_s": 3,
            "breaker": {"failure_threshold": 100, "cooldown_s": 30, "max_cooldown_s": 300},
        },
        providers=[
            provider("main", base_url=main, auth={"type": "bearer", "token": "${SEC_MAIN_KEY}"}),
            provider(
                "other",
                base_url=other,
                auth={"type": "header", "header": "api-key", "value": "${SEC_OTHER_KEY}"},
            ),
            provider(
                "keyless", base_url=keyless, auth={"type": "bearer", "token": "${SEC_NOT_SET}"}
            ),
        ],
        models=[model("m"), model("lonely"), model("embed", type="embedding", capabilities=[])],
        channels=[
            channel("k", "m", "keyless", upstream_model="k", priority="high"),
            channel("a", "m", "main", upstream_model="a", priority="high"),
            channel("b", "m", "other", upstream_model="b"),
            channel("k-lonely", "lonely", "keyless", upstream_model="k"),
            channel("e", "embed", "main", upstream_model="e"),
        ],
        consumers=[consumer("alice", CLIENT_KEY), consumer("ops", ADMIN_KEY, scopes=["admin"])],
    )


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[str, ProxyApp, dict[str, FaultyOpenAI]]]:
    """The proxy over three fakes (main, other, keyless), secrets from canary environ."""
    with (
        faulty_upstream("main") as (main, main_url),
        faulty_upstream("other") as (other, other_url),
        faulty_upstream("keyless") as (keyless, keyless_url),
        running_proxy(security_catalog(main_url, other_url, keyless_url), environ=SECRETS) as (
            proxy,
            app,
        ),
    ):
        yield proxy, app, {"main": main, "other": other, "keyless": keyless}


HTTP = httpx.Client(timeout=10)  # one client: building one per request costs ~0.1 s


def chat(proxy: str, *, headers: dict | None = None, **body) -> httpx.Response:
    payload = {"model": "m", "messages": USER, **body}
    return HTTP.post(
        f"{proxy}/v1/chat/completions",
        json=payload,
        timeout=10,
        headers=CLIENT_CANARIES if headers is None else headers,
    )


def drive_every_path(proxy: str, fakes: dict[str, FaultyOpenAI]) -> list[httpx.Response]:
    """Success, stream, failover, upstream 4xx, upstream 401 echoing a secret, mid-stream
    cut, every channel failing, a missing-secret model, embeddings, x-api-key auth."""
    main, other = fakes["main"], fakes["other"]
    answers = [chat(proxy), chat(proxy, stream=True)]
    main.push(500, model="a")
    answers.append(chat(proxy))
    main.push(
        {"status": 400, "error": {"message": "bad", "type": "invalid_request_error"}}, model="a"
    )
    answers.append(chat(proxy))
    main.push(
        {"status": 401, "error": {"message": f"Incorrect key {SECRETS['SEC_MAIN_KEY']}"}}, model="a"
    )
    answers.append(chat(proxy))
    main.push({"cut_after": 2}, model="a")
    answers.append(chat(proxy, stream=True))
    main.push(503, model="a")
    other.push({"stall": "headers"}, model="b")
    answers.append(chat(proxy, stream=True))
    answers.append(chat(proxy, model="lonely"))
    answers.append(
        HTTP.post(
            f"{proxy}/v1/embeddings", headers=CLIENT_CANARIES, json={"model": "embed", "input": "x"}
        )
    )
    only_x_api_key = {k: v for k, v in CLIENT_CANARIES.items() if k != "authorization"}
    answers.append(chat(proxy, headers={**only_x_api_key, "x-api-key": CLIENT_KEY}))
    return answers


@pytest.fixture(scope="module")
def driven(guarded) -> tuple[list[httpx.Response], list[logging.LogRecord], str]:
    """Every path driven once with DEBUG logging captured: (answers, log records, log text)."""
    proxy, _, fakes = guarded
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        answers = drive_every_path(proxy, fakes)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = "\n".join(
        logging.Formatter("%(name)s %(message)s %(exc_text)s").format(r) for r in records
    )
    return answers, records, text


# ----- client credentials never reach an upstream -----


def test_every_path_was_driven(driven):
    answers, _, _ = driven
    assert [r.status_code for r in answers] == [200, 200, 200, 400, 200, 200, 504, 503, 200, 200]


def test_client_credential_headers_never_reach_any_upstream(guarded, driven):
    _, _, fakes = guarded
    received = json.dumps([r for fake in fakes.values() for r in fake.requests])
    assert fakes["main"].requests and fakes["other"].requests
    assert canaries_in(received, client_canaries()) == []


def test_channels_whose_secret_is_missing_are_never_called(guarded, driven):
    _, _, fakes = guarded
    assert fakes["keyless"].requests == []


def test_each_upstream_receives_only_its_own_secret(guarded, driven):
    _, _, fakes = guarded
    main = json.dumps(fakes["main"].requests)
    other = json.dumps(fakes["other"].requests)
    assert SECRETS["SEC_OTHER_KEY"] not in main and SECRETS["SEC_MAIN_KEY"] not in other
    assert all(
        r["headers"]["authorization"] == f"Bearer {SECRETS['SEC_MAIN_KEY']}"
        for r in fakes["main"].requests
    )


# ----- channel secrets never leak -----


def test_channel_secrets_never_appear_in_answers_to_clients(driven):
    answers, _, _ = driven
    seen = "\n".join(r.text + json.dumps(dict(r.headers)) for r in answers)
    assert canaries_in(seen, SECRETS.values()) == []


@pytest.mark.parametrize("status", [400, 403, 422])
def test_upstream_error_echoing_its_credential_never_shows_it_to_the_client(guarded, status):
    proxy, _, fakes = guarded
    echo = f"Incorrect API key provided: {SECRETS['SEC_MAIN_KEY']}"
    fakes["main"].push(
        {
            "status": status,
            "error": {
                "message": echo,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_key",
            },
        },
        model="a",
    )
    answer = chat(proxy)
    assert answer.status_code == status
    assert canaries_in(answer.text, SECRETS.values()) == []


def test_channel_secrets_and_client_keys_never_appear_in_debug_logs(driven):
    _, records, text = driven
    assert records  # the run with errors did log
    assert canaries_in(text, [*SECRETS.values(), *client_canaries()]) == []


def test_channel_secrets_never_appear_in_readyz_or_metrics(guarded, driven):
    proxy, _, _ = guarded
    ready = HTTP.get(f"{proxy}/readyz")
    metrics = HTTP.get(f"{proxy}/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert ready.status_code == 200 and canaries_in(ready.text, SECRETS.values()) == []
    assert metrics.status_code == 200 and "modelyard_" in metrics.text
    assert canaries_in(metrics.text, [*SECRETS.values(), *client_canaries()]) == []


def test_metrics_needs_an_admin_key_or_the_scraper_token_which_opens_nothing_else(
    guarded, monkeypatch
):
    proxy, _, _ = guarded
    monkeypatch.setenv("MODELYARD_METRICS_KEY", "scraper-token-6e1f0a")
    scraper = {"Authorization": "Bearer scraper-token-6e1f0a"}
    assert HTTP.get(f"{proxy}/metrics", headers=scraper).status_code == 200
    assert (
        HTTP.get(f"{proxy}/metrics", headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code
        == 403
    )
    assert HTTP.get(f"{proxy}/v1/models", headers=scraper).status_code == 401
    assert (
        HTTP.post(
            f"{proxy}/v1/chat/completions", headers=scraper, json={"model": "m", "messages": USER}
        ).status_code
        == 401
    )


def test_channel_secrets_never_appear_in_object_reprs(guarded, driven):
    _, app, _ = guarded
    loaded = app.holder.current
    call = Call(
        endpoint="chat",
        body={"model": "m"},
        model=loaded.snapshot.resolve_name("m"),
        channel=loaded.snapshot.channels["a"],
        provider=loaded.snapshot.providers["main"],
        secrets=loaded.secrets["main"],
        native_tools={},
        deadline=Deadline(1, 1, 0),
    )
    objects = [
        app,
        app.holder,
        loaded,
        loaded.secrets,
        loaded.secrets["main"],
        call,
        app.router,
        app.router.adapter("openai"),
        app.http,
        app.holder.breakers,
        app.holder.status(),
    ]
    text = "\n".join(f"{o!r} {o!s}" for o in objects)
    assert "Secrets(" in text and canaries_in(text, SECRETS.values()) == []


# ----- catalogs: the snapshot and the diff hold references, never values -----


def catalog_with_canaries(tmp_path: Path, monkeypatch) -> tuple[Path, Path, list[str]]:
    """The bundled catalog twice (head with one secret reference renamed); every reference
    set in the environment to a unique canary."""
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(Path(__file__).parent.parent / "catalog", base)
    shutil.copytree(base, head)
    refs = sorted(
        {
            ref
            for f in base.rglob("*.yaml")
            for ref in re.findall(r"\$\{([A-Z0-9_]+)\}", f.read_text())
        }
    )
    target = next(f for f in head.rglob("*.yaml") if f"${{{refs[0]}}}" in f.read_text())
    target.write_text(target.read_text().replace(f"${{{refs[0]}}}", f"${{{refs[0]}_NEXT}}"))
    canaries = []
    for i, ref in enumerate([*refs, f"{refs[0]}_NEXT"]):
        canaries.append(f"canary-catalog-secret-{i:03d}")
        monkeypatch.setenv(ref, canaries[-1])
    return base, head, canaries


def test_compiled_snapshot_keeps_references_not_secret_values(tmp_path, monkeypatch):
    base, _, canaries = catalog_with_canaries(tmp_path, monkeypatch)
    result = build(base)
    assert result.snapshot is not None
    text = canonical_json(result.snapshot).decode()
    assert "${" in text and canaries_in(text, canaries) == []


@pytest.mark.parametrize("form", ["text", "markdown", "json"])
def test_diff_output_never_shows_a_secret_value(tmp_path, monkeypatch, form):
    base, head, canaries = catalog_with_canaries(tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")
    outcome = CliRunner().invoke(cli_app, ["diff", str(base), str(head), "--format", form])
    assert outcome.exit_code == 0, outcome.output
    assert "provider" in outcome.output.lower()  # the auth change is reported
    assert canaries_in(outcome.output, canaries) == []


# ----- every route but health needs a key -----


APP_SOURCE = Path(__file__).resolve().parent.parent / "gateway" / "proxy" / "app.py"


def dispatched_paths() -> list[str]:
    """The paths the proxy knows: its endpoint table, and those its app module's source names,
    so a new route is covered."""
    source = APP_SOURCE.read_text()  # the module itself may be the compiled extension
    paths = set(re.findall(r'"(/[A-Za-z0-9_./-]*)"', source))
    paths |= set(endpoints.POST)
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/healthz"} <= paths
    paths |= {"/metrics", "/v1/x"}
    return sorted([*(p + "m" if p.endswith("/") else p for p in paths), "/"])


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
@pytest.mark.parametrize("key", [None, "sk-wrong", ""], ids=["no-key", "bad-key", "empty-key"])
def test_every_route_but_health_needs_a_key(guarded, method, key):
    proxy, _, fakes = guarded
    headers = {} if key is None else {"Authorization": f"Bearer {key}".strip(), "x-api-key": key}
    before = sum(len(f.requests) for f in fakes.values())
    for path in dispatched_paths():
        answer = HTTP.request(
            method,
            f"{proxy}{path}",
            headers=headers,
            json={"model": "m", "messages": USER, "input": "x"},
        )
        if path in PUBLIC_PATHS:
            assert answer.status_code == 200, path
        else:
            assert answer.status_code == 401, (method, path)
            if method != "HEAD":  # OpenAI's error shape, or Anthropic's on /v1/messages
                error = answer.json()["error"]
                assert error.get("code", error["type"]) in (
                    "invalid_api_key",
                    "authentication_error",
                ), path
    assert sum(len(f.requests) for f in fakes.values()) == before


def raw_status(url: str, target: str, headers: list[tuple[str, str]]) -> int:
    """Send one request over a plain socket, exactly as written; the answer's status."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"GET {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


PATH_SPELLINGS = [
    "/v1/models",
    "//v1/models",
    "/v1/../v1/models",
    "/V1/models",
    "/%761/models",
    "/v1/models/",
    "/v1/models?x=/healthz",
    "/healthz/../v1/models",
    "/v1/models;/healthz",
    "/./v1/models",
    "/v1/models%00",
    "/v1%2fmodels",
    "ABSOLUTE/v1/models",
    "http://localhost/v1/models",
    f"/v1/models?api_key={CLIENT_KEY}&key={CLIENT_KEY}",
]  # keys in URLs: never
HOSTS = [None, "localhost", "127.0.0.1:1", "evil.example", ""]
EXTRA = [
    [],
    [("X-Forwarded-Host", "localhost")],
    [("X-Original-URL", "/healthz")],
    [("X-Rewrite-URL", "/healthz")],
    [("X-Forwarded-For", "127.0.0.1")],
    [("X-Forwarded-Prefix", "/healthz")],
    [("Forwarded", "for=127.0.0.1;host=localhost")],
]


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: f"host={h}")
def test_host_and_path_spellings_never_bypass_the_key(guarded, host):
    proxy, _, _ = guarded
    for spelling in PATH_SPELLINGS:
        target = spelling.replace("ABSOLUTE", proxy)
        for extra in EXTRA:
            headers = [("Host", proxy.removeprefix("http://") if host is None else host), *extra]
            status = raw_status(proxy, target, headers)
            assert status == 401, (target, headers, status)
