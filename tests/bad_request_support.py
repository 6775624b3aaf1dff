"""What the bad-request corpus shares (tests/test_bad_requests.py, test_bad_request_text.py,
test_bad_request_transport.py): the proxy under attack over a recording fake upstream, raw
requests to it, and the check that an answer is a clean refusal, counting each case."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from tests.conftest import (
    KEY_ALICE,
    channel,
    consumer,
    fake_upstream,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.openai_like import FakeOpenAI

LIMIT = 64 * 1024  # the catalog's max_request_bytes, small so oversized cases stay cheap
SENT = {"cases": 0}
HYPOTHESIS = settings(
    max_examples=800,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CHAT, EMBEDDINGS = "/v1/chat/completions", "/v1/embeddings"


@dataclass
class Gate:
    """The proxy under attack, the fake upstream behind it, and a client for raw requests."""

    url: str
    fake: FakeOpenAI
    http: httpx.Client


def hostile_catalog(upstream_url: str) -> dict:
    """A chat and an embedding model, both over the recording fake upstream."""
    return snapshot_dict(
        settings={"max_request_bytes": LIMIT},
        providers=[
            provider(
                "fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"}
            )
        ],
        models=[
            model(
                "gpt-test",
                aliases=["gpt"],
                capabilities=[
                    "streaming",
                    "tools",
                    "image_input",
                    "json_schema",
                    "json_object",
                    "parallel_tool_calls",
                    "stream_function_call",
                ],
            ),
            model("embed", type="embedding", capabilities=[]),
        ],
        channels=[
            channel("fake-gpt", "gpt-test", "fake", upstream_model="up-gpt"),
            channel("fake-embed", "embed", "fake", upstream_model="up-embed"),
        ],
        consumers=[consumer("alice", KEY_ALICE)],
    )


@pytest.fixture(scope="module")
def gate() -> Iterator[Gate]:
    with (
        fake_upstream() as (fake, url),
        running_proxy(hostile_catalog(url), environ={"MY_FAKE_KEY": "s"}) as (proxy_url, _),
        httpx.Client(base_url=proxy_url, timeout=10) as http,
    ):
        yield Gate(proxy_url, fake, http)


def post(
    gate: Gate,
    body: bytes | Iterable[bytes],
    path: str = CHAT,
    headers: list[tuple[str, str]] | None = None,
) -> httpx.Response:
    """POST raw bytes (an iterable is sent chunked, without Content-Length)."""
    sent = headers if headers is not None else [("authorization", f"Bearer {KEY_ALICE}")]
    return gate.http.post(path, content=body, headers=[("content-type", "application/json"), *sent])


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=False).encode()


def reached(gate: Gate) -> int:
    """How many requests reached the upstream since the last call (and forget them)."""
    count = len(gate.fake.requests)
    gate.fake.requests.clear()
    return count


def problem(gate: Gate, response: httpx.Response) -> str | None:
    """Why the answer is not a clean refusal, or None (counts the case)."""
    SENT["cases"] += 1
    if reached(gate):
        return f"{response.status_code}: reached the upstream"
    if not 400 <= response.status_code < 500:
        return f"{response.status_code}: {response.text[:200]}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: not an OpenAI error body: {response.text[:200]}"
    if not (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("type"), str)
        and "param" in error
        and "code" in error
    ):
        return f"{response.status_code}: not an OpenAI error body: {error!r:.200}"
    return None


def assert_refused(gate: Gate, cases: Iterable[tuple[str, Any]], send: Any) -> None:
    """Send every case; fail listing every case that was not refused cleanly."""
    failures = []
    for label, case in cases:
        why = problem(gate, send(case))
        if why is not None:
            failures.append(f"{label}: {why}")
    assert not failures, "\n".join(failures)
