"""Upstream faults through the proxy: every fault plain and streamed, over one and three channels.

Channel `a` (priority high, tried first) carries the fault; `b` and `c` are healthy. The
expectations hold for every fault: success whenever a healthy channel is left, never more
upstream attempts than 1 + retry_budget, the total deadline kept, and after the first
streamed byte exactly one upstream request and an error event instead of a failover.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.proxy.app import ProxyApp
from tests.conftest import poll, running_proxy
from tests.fault_support import BUDGET, ENV, TOLERANCE_S, TOTAL_S, Result, ask, fault_catalog
from tests.upstreams.faulty import FaultyOpenAI, faulty_upstream

DATE = "http-date"  # replaced by an HTTP date two seconds ahead when the fault is pushed


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[FaultyOpenAI, str, ProxyApp]]:
    """One fake and one proxy for the module; each test starts from a clean slate."""
    with (
        faulty_upstream() as (fake, url),
        running_proxy(fault_catalog(url), environ=ENV) as (proxy, app),
    ):
        yield fake, proxy, app


@pytest.fixture
def clean(bench) -> tuple[FaultyOpenAI, str, ProxyApp]:
    fake, _, app = bench
    fake.reset()
    app.holder.breakers.retain(())  # every circuit closed, no Retry-After held
    app.router.stats.retain(())  # no recent outcomes
    return bench


@dataclass(frozen=True)
class Fault:
    """A fault of channel a and what the client sees when a is the only channel."""

    name: str
    behaviour: Any  # pushed to the fake for channel a; None when a is unreachable
    status: int | None = None  # None: the request still succeeds on a
    code: str | None = None
    refused: bool = False
    mid_stream: str | None = None  # streamed: the text sent before the fault (no failover)

    def push(self, fake) -> None:
        if self.behaviour is None:
            return
        behaviour = self.behaviour
        if isinstance(behaviour, dict) and behaviour.get("retry_after") == DATE:
            behaviour = {
                **behaviour,
                "retry_after": email.utils.formatdate(time.time() + 2, usegmt=True),
            }
        fake.push(behaviour, model="a")


BEFORE_ANSWER = [
    Fault("status-500", 500, 502, "upstream_error"),
    Fault("status-503", 503, 503, "upstream_error"),
    Fault("status-529-overloaded", 529, 503, "upstream_error"),
    Fault("status-408", 408, 504, "upstream_error"),
    Fault("redirect-302", 302, 502, "upstream_error"),
    Fault("connection-refused", None, 502, "upstream_connect_error", refused=True),
    Fault("429-retry-after-seconds", {"status": 429, "retry_after": "1"}, 429, "upstream_error"),
    Fault("429-retry-after-date", {"status": 429, "retry_after": DATE}, 429, "upstream_error"),
    Fault(
        "429-retry-after-garbage",
        {"status": 429, "retry_after": "soon, maybe"},
        429,
        "upstream_error",
    ),
    Fault("stall-before-headers", {"stall": "headers"}, 504, "upstream_timeout"),
    Fault("slow-within-deadline", {"slow": 0.3}),
]
HTML_PAGE = Fault("html-page-with-200", {"html": True}, 502, "upstream_protocol_error")
PLAIN_FAULTS = [
    *BEFORE_ANSWER,
    HTML_PAGE,
    Fault("stall-mid-body", {"stall": "body"}, 504, "upstream_timeout"),
    Fault("invalid-json", {"invalid_json": True}, 502, "upstream_protocol_error"),
]
STREAM_FAULTS = [
    *BEFORE_ANSWER,
    HTML_PAGE,
    Fault("malformed-first-chunk", {"malformed_chunk": 0}, 502, "upstream_protocol_error"),
    Fault("ends-before-any-chunk", {"end_after": 0}, 502, "upstream_protocol_error"),
    Fault("no-done-after-complete-answer", {"no_done": True}),
    Fault("stall-mid-body", {"stall": "body"}, code="upstream_timeout", mid_stream=""),
    Fault("cut-mid-stream", {"cut_after": 2}, code="upstream_protocol_error", mid_stream="fake "),
    Fault(
        "malformed-chunk-mid-stream",
        {"malformed_chunk": 2},
        code="upstream_protocol_error",
        mid_stream="fake ",
    ),
    Fault(
        "ends-before-the-answer",
        {"end_after": 2},
        code="upstream_protocol_error",
        mid_stream="fake ",
    ),
]


def answer_of(channel_name: str, stream: bool) -> str:
    return f"fake answer from {channel_name}" + (" " if stream else "")


def check_fault(bench, fault: Fault, channels: int, stream: bool) -> None:
    fake, proxy, app = bench
    name = f"{'r' if fault.refused else 'm'}{channels}"
    fault.push(fake)
    result = ask(proxy, name, stream=stream)
    upstream_requests = len(fake.requests) + (1 if fault.refused else 0)
    assert result.elapsed <= TOTAL_S + TOLERANCE_S
    assert result.attempts <= 1 + BUDGET and upstream_requests <= 1 + BUDGET
    if fault.mid_stream is not None:
        # Headers went out with the first chunk: no failover, no repeated text, an error event.
        assert (result.status, result.mid_stream_error, result.code) == (200, True, fault.code)
        assert result.text == fault.mid_stream and len(fake.requests) == 1
        # /admin/status shows the break: the channel's last error is this one
        last = app.router.stats.view(f"{name}-a").last_error
        assert last is not None and last.code == fault.code
    elif fault.status is None or channels > 1:
        served = "a" if fault.status is None else "b"
        assert (result.status, result.mid_stream_error, result.text) == (
            200,
            False,
            answer_of(served, stream),
        )
        assert (result.channel, result.attempts, upstream_requests) == (
            f"{name}-{served}",
            1 if served == "a" else 2,
            result.attempts,
        )
    else:
        assert (result.status, result.code) == (fault.status, fault.code)
        assert result.attempts == upstream_requests == 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("fault", PLAIN_FAULTS, ids=lambda f: f.name)
def test_plain_request_survives_fault_within_budget_and_deadline(clean, fault, channels):
    check_fault(clean, fault, channels, stream=False)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("fault", STREAM_FAULTS, ids=lambda f: f.name)
def test_streamed_request_survives_fault_within_budget_and_deadline(clean, fault, channels):
    check_fault(clean, fault, channels, stream=True)


# ----- Retry-After -----


def wait_out_hold(proxy: str, model_name: str, stream: bool) -> tuple[Result, int]:
    """Ask until the model answers again (bounded): the final result and how many 503s came."""
    results: list[Result] = []

    def answered() -> bool:
        results.append(ask(proxy, model_name, stream=stream))
        if results[-1].status != 503:
            return True
        assert (results[-1].code, results[-1].attempts) == ("circuit_open", 0)
        return False

    poll(answered, timeout=4)
    return results[-1], len(results) - 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_channel_is_not_tried_before_its_retry_after_expires(clean, form, stream):
    fake, proxy, _ = clean
    when = time.time() + 2
    value = "1" if form == "seconds" else email.utils.formatdate(when, usegmt=True)
    fake.push({"status": 429, "retry_after": value}, model="a")
    assert ask(proxy, "m1", stream=stream).status == 429
    result, held = wait_out_hold(proxy, "m1", stream)
    assert result.status == 200 and held > 0
    first_at, second_at = fake.times()
    if form == "seconds":
        assert second_at - first_at >= 1.0
    else:  # the date has whole seconds: the hold ends at the start of that second
        assert second_at + (time.time() - time.monotonic()) >= int(when)


def test_unreadable_retry_after_holds_nothing(clean):
    fake, proxy, _ = clean
    fake.push({"status": 429, "retry_after": "in a while"}, model="a")
    assert ask(proxy, "m1", stream=False).status == 429
    assert ask(proxy, "m1", stream=False).status == 200
    assert len(fake.requests) == 2


def test_retry_after_holds_only_the_channel_that_sent_it(clean):
    fake, proxy, _ = clean
    fake.push({"status": 429, "retry_after": "30"}, model="a")
    first, second = ask(proxy, stream=False), ask(proxy, stream=True)
    assert (first.channel, first.attempts) == ("m3-b", 2)
    assert (second.channel, second.attempts) == ("m3-b", 1)
    assert len(fake.requests_for("a")) == 1


# ----- upstream 4xx -----


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", [400, 403, 413, 422])
def test_upstream_client_error_goes_back_as_is_and_is_never_retried(
    clean, status, stream, channels
):
    fake, proxy, _ = clean
    fake.push(
        {
            "status": status,
            "error": {
                "message": "no",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "upstream_says_no",
            },
        },
        model="a",
    )
    result = ask(proxy, f"m{channels}", stream=stream)
    assert (result.status, result.code, result.attempts) == (status, "upstream_says_no", 1)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("status", [401, 404])
def test_upstream_refusing_the_channel_credentials_is_a_502_that_fails_over(
    clean, status, channels
):
    # Documented: the catalog's credentials are at fault, not the client's (docs/providers.md).
    fake, proxy, _ = clean
    fake.push(status, model="a")
    result = ask(proxy, f"m{channels}", stream=False)
    if channels == 1:
        assert (result.status, result.code, len(fake.requests)) == (502, "upstream_error", 1)
    else:
        assert (result.status, result.channel, len(fake.requests)) == (200, "m3-b", 2)


# ----- no retry storm -----


@pytest.mark.parametrize("concurrency", [1, 10])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_every_upstream_failing_causes_no_retry_storm(clean, stream, concurrency):
    fake, proxy, _ = clean
    fake.push(*[500] * 300)  # for every channel
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: ask(proxy, stream=stream), range(100)))
    assert len(fake.requests) <= 1.2 * 100
    assert all(r.status in (502, 503) for r in results)
    assert results[-1].code == "circuit_open"


# ----- budget and the last error -----


@pytest.mark.parametrize(
    ("failures", "status"),
    [
        ((429, 503, 500), 502),
        ((500, 503, 429), 429),
        ((500, 429, 503), 503),
        ((500, 500, {"stall": "headers"}), 504),
    ],
)
def test_every_channel_failing_uses_the_whole_budget_and_answers_the_last_error(
    clean, failures, status
):
    fake, proxy, _ = clean
    for name, failure in zip("abc", failures, strict=True):
        fake.push(failure, model=name)
    result = ask(proxy, stream=False)
    assert (result.status, result.attempts, result.channel) == (status, 1 + BUDGET, "m3-c")
    assert [r["body"]["model"] for r in fake.requests] == ["a", "b", "c"]


@pytest.mark.parametrize(("value", "expected"), [("1", "1"), ("2.2", "3"), ("soon", None)])
def test_the_client_is_told_the_last_upstream_retry_after_in_whole_seconds(clean, value, expected):
    fake, proxy, _ = clean
    fake.push({"status": 429, "retry_after": value}, model="a")
    result = ask(proxy, "m1", stream=False)
    assert (result.status, result.headers.get("retry-after")) == (429, expected)
