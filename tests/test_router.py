"""Routing through the proxy: failover, budget, Retry-After, circuits, streams, filtering."""

from __future__ import annotations

from collections import Counter

import httpx
import openai
import pytest

from tests.conftest import (
    KEY_ALICE,
    KEY_BOB,
    channel,
    client,
    consumer,
    holder_of,
    model,
    poll,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.server import free_port

USER = [{"role": "user", "content": "hi"}]
ENV = {"FAKE_KEY": "upstream-secret"}


class Clock:
    """A clock the test moves by hand, so circuit cooldowns pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def routed_catalog(
    url: str, *, retry_budget: int = 2, threshold: int = 2, channels=None, **settings
) -> dict:
    return snapshot_dict(
        settings={
            "retry_budget": retry_budget,
            "first_byte_timeout_s": 0.5,
            "connect_timeout_s": 0.5,
            "breaker": {"failure_threshold": threshold, "cooldown_s": 10, "max_cooldown_s": 40},
            **settings,
        },
        providers=[provider("fake", base_url=url, auth={"type": "bearer", "token": "${FAKE_KEY}"})],
        models=[model("m")],
        channels=channels
        or [
            channel("a", "m", "fake", priority="high"),
            channel("b", "m", "fake"),
            channel("c", "m", "fake", priority="low"),
        ],
        consumers=[consumer("alice", KEY_ALICE), consumer("bob", KEY_BOB)],
    )


def served_by(url: str, **kw) -> tuple[str, int]:
    answer = client(url).chat.completions.with_raw_response.create(model="m", messages=USER, **kw)
    return answer.headers["x-modelyard-channel"], int(answer.headers["x-modelyard-attempts"])


@pytest.mark.parametrize("failure", [500, 503, {"stall": "headers"}])
def test_failure_of_high_channel_fails_over_to_normal(upstream, failure):
    fake, url = upstream
    fake.push(failure, model="a")
    with running_proxy(routed_catalog(url), environ=ENV) as (proxy, _):
        assert served_by(proxy) == ("b", 2)


def test_connect_error_fails_over():
    closed = provider("gone", base_url=f"http://127.0.0.1:{free_port()}/v1")
    data = snapshot_dict(
        providers=[closed, provider("mock", protocol="mock")],
        models=[model("m")],
        consumers=[consumer("alice", KEY_ALICE)],
        channels=[channel("dead", "m", "gone", priority="high"), channel("alive", "m", "mock")],
    )
    with running_proxy(data) as (proxy, _):
        assert served_by(proxy) == ("alive", 2)


def test_retry_budget_bounds_attempts(upstream):
    fake, url = upstream
    fake.push(500, model="a")
    fake.push(502, model="b")
    with (
        running_proxy(routed_catalog(url, retry_budget=1), environ=ENV) as (proxy, _),
        pytest.raises(openai.APIStatusError) as info,
    ):
        client(proxy).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 502
    assert info.value.response.headers["x-modelyard-attempts"] == "2"
    assert fake.requests_for("c") == []


def test_upstream_4xx_goes_back_as_is_without_failover(upstream):
    fake, url = upstream
    error = {
        "message": "context too long",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
    fake.push({"status": 400, "error": error}, model="a")
    with (
        running_proxy(routed_catalog(url), environ=ENV) as (proxy, _),
        pytest.raises(openai.BadRequestError) as info,
    ):
        client(proxy).chat.completions.create(model="m", messages=USER)
    assert info.value.code == "context_length_exceeded"
    assert info.value.body["message"] == "context too long"
    assert fake.requests_for("b") == []


def test_retry_after_keeps_channel_out_of_rotation(upstream):
    fake, url = upstream
    fake.push({"status": 429, "retry_after": "30"}, model="a")
    clock = Clock()
    holder = holder_of(routed_catalog(url), ENV, clock=clock)
    with running_proxy(holder) as (proxy, _):
        assert served_by(proxy) == ("b", 2)
        assert served_by(proxy) == ("b", 1)
        clock.now += 31
        assert served_by(proxy) == ("a", 1)
    assert len(fake.requests_for("a")) == 2


def test_all_attempts_rate_limited_answers_429(upstream):
    fake, url = upstream
    fake.push({"status": 429, "retry_after": "5"}, model="a")
    data = routed_catalog(url, channels=[channel("a", "m", "fake")])
    with running_proxy(data, environ=ENV) as (proxy, _):
        with pytest.raises(openai.RateLimitError) as limited:
            client(proxy).chat.completions.create(model="m", messages=USER)
        assert limited.value.response.headers["retry-after"] == "5"
        with pytest.raises(openai.APIStatusError) as info:  # held back by Retry-After
            client(proxy).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 503 and info.value.code == "circuit_open"


def test_circuit_opens_then_half_opens_then_closes(upstream):
    fake, url = upstream
    fake.push(500, 500, model="a")
    clock = Clock()
    with running_proxy(holder_of(routed_catalog(url), ENV, clock=clock)) as (proxy, _):
        assert served_by(proxy) == ("b", 2)
        assert served_by(proxy) == ("b", 2)  # second consecutive failure opens a's circuit
        assert served_by(proxy) == ("b", 1)  # open: a is not tried
        clock.now += 11.5  # past the cooldown (10 s, jitter at most 10 %)
        assert served_by(proxy) == ("a", 1)  # half-open: one trial, which succeeds
        assert served_by(proxy)[0] == "a"  # closed again
    assert len(fake.requests_for("a")) == 4


def test_failed_trial_reopens_circuit(upstream):
    fake, url = upstream
    fake.push(500, 500, 500, model="a")
    clock = Clock()
    with running_proxy(holder_of(routed_catalog(url), ENV, clock=clock)) as (proxy, _):
        served_by(proxy), served_by(proxy)
        clock.now += 11.5
        assert served_by(proxy) == ("b", 2)  # the trial failed
        clock.now += 11.5  # the cooldown doubled to 20 s: still open
        assert served_by(proxy) == ("b", 1)


def test_model_whose_channels_are_all_open_reports_circuit_open(upstream):
    fake, url = upstream
    fake.push(500, model="a")
    data = routed_catalog(url, threshold=1, channels=[channel("a", "m", "fake")])
    with running_proxy(data, environ=ENV) as (proxy, _):
        with pytest.raises(openai.InternalServerError):
            client(proxy).chat.completions.create(model="m", messages=USER)
        with pytest.raises(openai.APIStatusError) as info:
            client(proxy).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 503 and info.value.code == "circuit_open"


def test_stream_fails_over_before_the_first_chunk(upstream):
    fake, url = upstream
    fake.push(503, model="a")
    with running_proxy(routed_catalog(url), environ=ENV) as (proxy, _):
        answer = client(proxy).chat.completions.with_raw_response.create(
            model="m", messages=USER, stream=True
        )
        assert answer.headers["x-modelyard-channel"] == "b"
        text = "".join(c.choices[0].delta.content or "" for c in answer.parse() if c.choices)
    assert text.strip() == "fake answer from b"


def test_no_retry_after_first_streamed_chunk(upstream):
    fake, url = upstream
    fake.push({"cut_after": 2}, model="a")
    with running_proxy(routed_catalog(url), environ=ENV) as (proxy, _):
        stream = client(proxy).chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError):
            for _ in stream:
                pass
    assert len(fake.requests) == 1


def test_stall_mid_stream_ends_with_error_event(upstream):
    fake, url = upstream
    fake.push({"stall": "body"}, model="a")
    with running_proxy(routed_catalog(url), environ=ENV) as (proxy, _):
        stream = client(proxy).chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIError):
            list(stream)
    assert len(fake.requests) == 1


def test_client_disconnect_cancels_upstream_request(upstream):
    fake, url = upstream
    fake.push({"stall": "headers"}, model="a")
    data = routed_catalog(url, first_byte_timeout_s=30, channels=[channel("a", "m", "fake")])
    with running_proxy(data, environ=ENV) as (proxy, _):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{proxy}/v1/chat/completions",
                timeout=0.3,
                headers={"Authorization": f"Bearer {KEY_ALICE}"},
                json={"model": "m", "messages": USER},
            )
        poll(lambda: fake.disconnects > 0)
    assert fake.disconnects == 1


def test_total_deadline_covers_all_attempts(upstream):
    fake, url = upstream
    fake.push({"slow": 0.4, "status": 500}, model="a")
    fake.push({"slow": 0.4}, model="b")
    data = routed_catalog(url, total_timeout_s=0.6, first_byte_timeout_s=5)
    with (
        running_proxy(data, environ=ENV) as (proxy, _),
        pytest.raises(openai.APIStatusError) as info,
    ):
        client(proxy).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == 504 and info.value.code == "deadline_exceeded"


def destination_catalog() -> dict:
    return snapshot_dict(
        providers=[
            provider("abroad", protocol="mock", data_destination="overseas"),
            provider("home", protocol="mock", data_destination="mainland"),
            provider("vault", protocol="mock", data_destination="inner"),
        ],
        models=[model("m")],
        channels=[
            channel("abroad", "m", "abroad", priority="high"),
            channel("home", "m", "home"),
            channel("vault", "m", "vault", priority="low"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("bob", KEY_BOB, max_data_destination="mainland"),
        ],
    )


def test_consumer_maximum_data_destination_filters_channels():
    with running_proxy(destination_catalog()) as (proxy, _):
        assert served_by(proxy)[0] == "abroad"
        bob = client(proxy, KEY_BOB).chat.completions.with_raw_response.create(
            model="m", messages=USER
        )
        assert bob.headers["x-modelyard-channel"] == "home"


def test_request_header_narrows_data_destination_but_cannot_widen_it():
    with running_proxy(destination_catalog()) as (proxy, _):
        narrowed = client(proxy, default_headers={"x-modelyard-data-destination": "inner"})
        answer = narrowed.chat.completions.with_raw_response.create(model="m", messages=USER)
        assert answer.headers["x-modelyard-channel"] == "vault"
        widened = client(
            proxy, KEY_BOB, default_headers={"x-modelyard-data-destination": "overseas"}
        )
        answer = widened.chat.completions.with_raw_response.create(model="m", messages=USER)
        assert answer.headers["x-modelyard-channel"] == "home"
        narrowest = client(proxy, default_headers={"x-modelyard-data-destination": "protected"})
        with pytest.raises(openai.APIStatusError) as info:
            narrowest.chat.completions.create(model="m", messages=USER)
        assert info.value.status_code == 503 and info.value.code == "no_channel_available"


def test_weight_shares_through_the_proxy_with_fixed_seed():
    # 400 requests, weights 3:1; the share of "heavy" must be within 0.06 of 0.75.
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[model("m")],
        channels=[channel("heavy", "m", "mock", weight=3), channel("light", "m", "mock", weight=1)],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    with (
        running_proxy(data, seed=11) as (proxy, _),
        httpx.Client(headers={"Authorization": f"Bearer {KEY_ALICE}"}) as http,
    ):
        counts = Counter(
            http.post(
                f"{proxy}/v1/chat/completions", json={"model": "m", "messages": USER}
            ).headers["x-modelyard-channel"]
            for _ in range(400)
        )
    assert abs(counts["heavy"] / 400 - 0.75) < 0.06


def test_missing_secret_makes_channel_unavailable_never_sent_without_auth(upstream):
    fake, url = upstream
    data = snapshot_dict(
        providers=[
            provider("keyless", base_url=url, auth={"type": "bearer", "token": "${ABSENT_KEY}"}),
            provider("mock", protocol="mock"),
        ],
        models=[model("m"), model("only-keyless")],
        channels=[
            channel("keyless", "m", "keyless", priority="high"),
            channel("mock", "m", "mock"),
            channel("keyless-only", "only-keyless", "keyless"),
        ],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    with running_proxy(data, environ={}) as (proxy, _):
        assert served_by(proxy) == ("mock", 1)
        with pytest.raises(openai.APIStatusError) as info:
            client(proxy).chat.completions.create(model="only-keyless", messages=USER)
    assert info.value.status_code == 503 and "missing_secret" in info.value.body["message"]
    assert fake.requests == []


def test_client_leaving_mid_stream_cancels_the_upstream_stream(upstream):
    fake, url = upstream
    fake.push({"stall": "body"}, model="a")
    data = routed_catalog(url, first_byte_timeout_s=30, channels=[channel("a", "m", "fake")])
    with running_proxy(data, environ=ENV) as (proxy, _):
        with httpx.stream(
            "POST",
            f"{proxy}/v1/chat/completions",
            timeout=5,
            headers={"Authorization": f"Bearer {KEY_ALICE}"},
            json={"model": "m", "messages": USER, "stream": True},
        ) as answer:
            first = next(answer.iter_bytes())
        assert first.startswith(b"data: ")
        poll(lambda: fake.disconnects > 0)
        assert served_by(proxy)[0] == "a"  # the half-finished stream left no trial or lock
    assert fake.disconnects == 1
