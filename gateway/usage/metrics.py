"""Prometheus metrics of the proxy; multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from gateway.usage.pricing import Cost, Usage

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}

REQUESTS = Counter(
    "modelyard_requests",
    "Requests answered, by model, channel and status.",
    ["model", "channel", "status"],
)
ATTEMPTS = Counter(
    "modelyard_upstream_attempts",
    "Upstream attempts, by channel and outcome (success or failure); failed "
    "attempts a request failed over from count here, not in modelyard_requests.",
    ["channel", "outcome"],
)
LATENCY = Histogram(
    "modelyard_request_duration_seconds",
    "Time to the last byte, by model.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
TTFT = Histogram(
    "modelyard_time_to_first_token_seconds",
    "Time to the first streamed chunk, by model.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
TOKENS = Counter(
    "modelyard_tokens", "Tokens used, by model, channel and kind.", ["model", "channel", "kind"]
)
COST = Counter(
    "modelyard_cost",
    "Cost in the price's currency, by model, channel and currency.",
    ["model", "channel", "currency"],
)
CIRCUIT = Gauge(
    "modelyard_circuit_state",
    "Circuit state per channel: 0 closed, 1 half-open, 2 open.",
    ["channel"],
    multiprocess_mode="max",
)
SNAPSHOT = Gauge(
    "modelyard_snapshot_info",
    "The snapshot being served (value 1), by digest.",
    ["digest"],
    multiprocess_mode="max",
)
RELOADS = Gauge(
    "modelyard_snapshot_reloads",
    "Snapshot reloads since start, by result (ok or refused).",
    ["result"],
    multiprocess_mode="max",
)
QUOTA_LIMIT = Gauge(
    "modelyard_quota_limit",
    "A quota's limit, by subject and limit (budgets in the catalog's currency).",
    ["subject", "limit"],
    multiprocess_mode="mostrecent",
)
QUOTA_USED = Gauge(
    "modelyard_quota_used",
    "A quota's use now: the sliding window's estimate, requests in flight, or the period's spend.",
    ["subject", "limit"],
    multiprocess_mode="mostrecent",
)
QUOTA_REJECTIONS = Gauge(
    "modelyard_quota_rejections",
    "Requests a quota refused since start, by subject and limit (this process).",
    ["subject", "limit"],
    multiprocess_mode="sum",
)
QUOTA_STATE_ERRORS = Gauge(
    "modelyard_quota_state_errors",
    "Times the quota state backend was "
    "unreachable, by what happened: served (fail_open), refused "
    "(fail_closed), unsettled (usage not recorded).",
    ["outcome"],
    multiprocess_mode="sum",
)


_BOUNDS = (*LATENCY_BUCKETS, math.inf)  # the histograms' upper bounds, +Inf included
_TOKEN_KINDS = ("input", "cached_input", "output", "reasoning", "audio_input", "audio_output")


class _Children:
    """The request metrics of one (model, channel): counts added up here per request, moved
    into prometheus-client's children by `flush`.

    Each prometheus-client update takes a lock and checks its arguments; five of them per
    request were most of what metrics cost. Adding to plain numbers here and flushing after
    each batch of requests (and before every scrape) does that work once per batch instead.
    """

    __slots__ = (
        "model",
        "channel",
        "latency",
        "ttft",
        "requests",
        "tokens",
        "cost",
        "statuses",
        "latency_counts",
        "latency_sum",
        "ttft_counts",
        "ttft_sum",
        "token_counts",
        "amounts",
    )

    def __init__(self, model: str, channel: str) -> None:
        self.model, self.channel = model, channel
        self.latency = LATENCY.labels(model)
        self.ttft = TTFT.labels(model)
        self.requests: dict[int, Any] = {}
        self.tokens: dict[str, Any] = {}
        self.cost: dict[str, Any] = {}
        self._reset()

    def _reset(self) -> None:
        self.statuses: dict[int, int] = {}
        self.latency_counts = [0] * len(_BOUNDS)
        self.latency_sum = 0.0
        self.ttft_counts = [0] * len(_BOUNDS)
        self.ttft_sum = 0.0
        self.token_counts = [0] * len(_TOKEN_KINDS)
        self.amounts: dict[str, float] = {}

    def add(
        self,
        status: int,
        seconds: float,
        ttft_seconds: float | None,
        usage: Usage,
        cost: Cost | None,
    ) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latency_counts[bisect.bisect_left(_BOUNDS, seconds)] += 1
        self.latency_sum += seconds
        if ttft_seconds is not None:
            self.ttft_counts[bisect.bisect_left(_BOUNDS, ttft_seconds)] += 1
            self.ttft_sum += ttft_seconds
        counts = self.token_counts
        counts[0] += usage.input_tokens
        counts[1] += usage.cached_input_tokens
        counts[2] += usage.output_tokens
        counts[3] += usage.reasoning_tokens
        counts[4] += usage.audio_input_tokens
        counts[5] += usage.audio_output_tokens
        if cost is not None and cost.amount:
            self.amounts[cost.currency] = self.amounts.get(cost.currency, 0.0) + float(cost.amount)

    def flush(self) -> None:
        statuses, latency, latency_sum, ttft, ttft_sum, tokens, amounts = (
            self.statuses,
            self.latency_counts,
            self.latency_sum,
            self.ttft_counts,
            self.ttft_sum,
            self.token_counts,
            self.amounts,
        )
        self._reset()
        for status, count in statuses.items():
            self._child(self.requests, REQUESTS, str(status), status).inc(count)
        _add_to_histogram(self.latency, latency, latency_sum)
        _add_to_histogram(self.ttft, ttft, ttft_sum)
        for kind, count in zip(_TOKEN_KINDS, tokens, strict=True):
            if count:
                self._child(self.tokens, TOKENS, kind, kind).inc(count)
        for currency, amount in amounts.items():
            self._child(self.cost, COST, currency, currency).inc(amount)

    def _child(self, cache: dict[Any, Any], metric: Counter, label: str, key: Any) -> Any:
        child = cache.get(key)
        if child is None:
            child = cache[key] = metric.labels(self.model, self.channel, label)
        return child


def _add_to_histogram(child: Any, counts: list[int], total: float) -> None:
    """Add counts per bucket to a histogram child. prometheus-client keeps a value per bucket
    (not cumulated) and one for the sum; observe() adds 1 to one bucket and the amount to the
    sum, which is what this does in bulk."""
    if not any(counts):
        return
    for bucket, count in zip(child._buckets, counts, strict=True):
        if count:
            bucket.inc(count)
    child._sum.inc(total)


_CHILDREN: dict[tuple[str, str], _Children] = {}
_CHILDREN_LIMIT = 10_000  # (model, channel) pairs kept; beyond it, flushed at once
_DIRTY: set[_Children] = set()


def observe_request(
    model: str,
    channel: str,
    status: int,
    seconds: float,
    ttft_seconds: float | None,
    usage: Usage,
    cost: Cost | None,
) -> None:
    """Record one finished request; exported at the next `flush` (the `Accountant` flushes
    after each batch, the exposition before it renders)."""
    children = _CHILDREN.get((model, channel))
    if children is None:
        children = _Children(model, channel)
        if len(_CHILDREN) >= _CHILDREN_LIMIT:
            children.add(status, seconds, ttft_seconds, usage, cost)
            children.flush()
            return
        _CHILDREN[model, channel] = children
    children.add(status, seconds, ttft_seconds, usage, cost)
    _DIRTY.add(children)


def flush() -> None:
    """Move what requests added into the exported metrics."""
    while _DIRTY:
        _DIRTY.pop().flush()


def add_attempts(counts: Iterable[tuple[str, int, int]]) -> None:
    """Count upstream attempts: (channel, successes, failures), as `Stats.take_attempts`
    gives them."""
    for channel, successes, failures in counts:
        if successes:
            ATTEMPTS.labels(channel, "success").inc(successes)
        if failures:
            ATTEMPTS.labels(channel, "failure").inc(failures)


def set_circuit(channel: str, state: str) -> None:
    CIRCUIT.labels(channel).set(CIRCUIT_STATES[state])


def set_snapshot(digest: str, reloads: int, refusals: int) -> None:
    """The snapshot being served (one series, the current digest) and the reload counts."""
    for labels in list(SNAPSHOT._metrics):  # only the current digest stays exported
        if labels != (digest,):
            SNAPSHOT.remove(*labels)
    SNAPSHOT.labels(digest).set(1)
    RELOADS.labels("ok").set(reloads)
    RELOADS.labels("refused").set(refusals)


def set_quotas(report: dict[str, Any]) -> None:
    """The quota section of the status document as gauges (see gateway/quota/report.py)."""
    for scope in report["scopes"]:
        for name, entry in scope["limits"].items():
            QUOTA_LIMIT.labels(scope["subject"], name).set(float(entry["limit"]))
            if entry["used"] is not None:
                QUOTA_USED.labels(scope["subject"], name).set(float(entry["used"]))
        for name, count in scope["rejections"].items():
            QUOTA_REJECTIONS.labels(scope["subject"], name).set(count)
    for outcome, count in report["state_errors"].items():
        QUOTA_STATE_ERRORS.labels(outcome).set(count)


def exposition() -> tuple[bytes, str]:
    """The metrics text of this process, or of all workers in multiprocess mode."""
    flush()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
