"""One upstream-error policy for every protocol: the same status gets the same failover
decision and the same client status, whichever adapter met it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.proxy.upstream_errors import decide
from tests.conftest import (
    KEY_ALICE,
    channel,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.server import serve_asgi

PROTOCOLS = ["openai", "azure-openai", "anthropic", "bedrock", "gemini", "volcengine", "dashscope"]
ENV = {
    "UP_KEY": "upstream-key-0123456789",
    "AWS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
AUTH = {
    "bearer": {"type": "bearer", "token": "${UP_KEY}"},
    "sigv4": {
        "type": "sigv4",
        "region": "us-east-1",
        "service": "bedrock",
        "access_key_id": "${AWS_KEY_ID}",
        "secret_access_key": "${AWS_SECRET}",
    },
}

#: (upstream status, fails over, client status when no channel is left)
TABLE = [
    (400, False, 400),
    (401, True, 502),
    (403, False, 403),
    (404, True, 502),
    (408, True, 504),
    (413, False, 413),
    (422, False, 422),
    (429, True, 429),
    (500, True, 502),
    (502, True, 502),
    (503, True, 503),
    (504, True, 504),
    (529, True, 503),
    (302, True, 502),
    (409, False, 409),
    (501, True, 502),
]


class StatusUpstream:
    """Answers every request with the status it is told, in a body every protocol can read."""

    def __init__(self) -> None:
        self.status = 500
        self.app = Starlette(routes=[Route("/{path:path}", self.answer, methods=["POST"])])

    async def answer(self, request: Request) -> Response:
        await request.body()
        message = f"upstream says {self.status}"
        body = {
            "type": "error",
            "message": message,
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "status": "INVALID_ARGUMENT",
                "code": "says_no",
                "param": None,
            },
        }
        headers = {"location": "http://127.0.0.1:9/elsewhere"} if self.status < 400 else {}
        return JSONResponse(body, status_code=self.status, headers=headers)


def catalog(url: str) -> dict:
    """Per protocol: `solo-P` with one failing channel, `pair-P` with a mock behind it."""
    providers = [provider("mock", protocol="mock")]
    models, channels = [], []
    for protocol in PROTOCOLS:
        auth = AUTH["sigv4" if protocol == "bedrock" else "bearer"]
        providers.append(provider(f"up-{protocol}", protocol=protocol, base_url=url, auth=auth))
        for kind in ("solo", "pair"):
            models.append(model(f"{kind}-{protocol}"))
            channels.append(
                channel(
                    f"{kind}-{protocol}-up",
                    f"{kind}-{protocol}",
                    f"up-{protocol}",
                    upstream_model="up-model",
                    priority="high",
                )
            )
        channels.append(
            channel(f"pair-{protocol}-mock", f"pair-{protocol}", "mock", priority="low")
        )
    return snapshot_dict(
        providers=providers,
        models=models,
        channels=channels,
        consumers=[consumer("alice", KEY_ALICE)],
        settings={"breaker": {"failure_threshold": 1000, "cooldown_s": 1, "max_cooldown_s": 1}},
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, StatusUpstream]]:
    pytest.importorskip("botocore")
    upstream = StatusUpstream()
    with serve_asgi(upstream.app) as url, running_proxy(catalog(url), environ=ENV) as (proxy, _):
        yield proxy, upstream


def ask(proxy: str, name: str, stream: bool) -> httpx.Response:
    return httpx.post(
        f"{proxy}/v1/chat/completions",
        timeout=10,
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
        json={"model": name, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
    )


@pytest.mark.parametrize(
    ("status", "fails_over", "client_status"), TABLE, ids=[str(row[0]) for row in TABLE]
)
def test_the_table_is_the_policy(status, fails_over, client_status):
    decision = decide(status)
    assert (decision.failover, decision.client_status) == (fails_over, client_status)


@pytest.mark.parametrize(
    ("status", "fails_over", "client_status"), TABLE, ids=[str(row[0]) for row in TABLE]
)
def test_every_protocol_decides_an_upstream_status_alike(served, status, fails_over, client_status):
    proxy, upstream = served
    upstream.status = status
    seen = {}
    for protocol, stream in itertools.product(PROTOCOLS, (False, True)):
        solo = ask(proxy, f"solo-{protocol}", stream)
        pair = ask(proxy, f"pair-{protocol}", stream)
        seen[protocol, stream] = (solo.status_code, pair.headers.get("x-modelyard-channel"))
        assert "upstream-key-0123456789" not in solo.text + pair.text
    expected = (client_status, f"pair-{{}}-{'mock' if fails_over else 'up'}")
    wrong = {
        key: got for key, got in seen.items() if got != (expected[0], expected[1].format(key[0]))
    }
    assert wrong == {}, f"status {status}: expected {expected}"
