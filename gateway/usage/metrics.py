"""Prometheus metrics of the proxy; multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import os
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

REQUESTS = Counter("modelyard_requests", "Requests answered, by model, channel and status.",
                   ["model", "channel", "status"])
ATTEMPTS = Counter("modelyard_upstream_attempts", "Upstream attempts, by channel and outcome.",
                   ["channel", "outcome"])
LATENCY = Histogram("modelyard_request_duration_seconds", "Time to the last byte, by model.",
                    ["model"], buckets=LATENCY_BUCKETS)
TTFT = Histogram("modelyard_time_to_first_token_seconds",
                 "Time to the first streamed chunk, by model.", ["model"], buckets=LATENCY_BUCKETS)
TOKENS = Counter("modelyard_tokens", "Tokens used, by model, channel and kind.",
                 ["model", "channel", "kind"])
COST = Counter("modelyard_cost", "Cost in the price's currency, by model, channel and currency.",
               ["model", "channel", "currency"])
CIRCUIT = Gauge("modelyard_circuit_state", "Circuit state per channel: 0 closed, 1 half-open, 2 open.",
                ["channel"], multiprocess_mode="max")
SNAPSHOT = Gauge("modelyard_snapshot_info", "The snapshot being served (value 1), by digest.",
                 ["digest"], multiprocess_mode="max")
RELOADS = Gauge("modelyard_snapshot_reloads", "Snapshot reloads since start, by result (ok or refused).",
                ["result"], multiprocess_mode="max")


class _Children:
    """The request metrics' children of one (model, channel): `.labels()` formats and locks
    on every call, so each child is looked up once and kept."""

    __slots__ = ("model", "channel", "latency", "ttft", "requests", "tokens", "cost")

    def __init__(self, model: str, channel: str) -> None:
        self.model, self.channel = model, channel
        self.latency = LATENCY.labels(model)
        self.ttft = TTFT.labels(model)
        self.requests: dict[int, Any] = {}
        self.tokens: dict[str, Any] = {}
        self.cost: dict[str, Any] = {}

    def request(self, status: int) -> Any:
        child = self.requests.get(status)
        if child is None:
            child = self.requests[status] = REQUESTS.labels(self.model, self.channel, str(status))
        return child

    def token(self, kind: str) -> Any:
        child = self.tokens.get(kind)
        if child is None:
            child = self.tokens[kind] = TOKENS.labels(self.model, self.channel, kind)
        return child

    def currency(self, currency: str) -> Any:
        child = self.cost.get(currency)
        if child is None:
            child = self.cost[currency] = COST.labels(self.model, self.channel, currency)
        return child


_CHILDREN: dict[tuple[str, str], _Children] = {}
_CHILDREN_LIMIT = 10_000  # (model, channel) pairs kept; beyond it, lookups go uncached


def _children(model: str, channel: str) -> _Children:
    children = _CHILDREN.get((model, channel))
    if children is None:
        children = _Children(model, channel)
        if len(_CHILDREN) < _CHILDREN_LIMIT:
            _CHILDREN[model, channel] = children
    return children


def observe_request(model: str, channel: str, status: int, seconds: float,
                    ttft_seconds: float | None, usage: Usage, cost: Cost | None) -> None:
    """Record one finished request."""
    children = _children(model, channel)
    children.request(status).inc()
    children.latency.observe(seconds)
    if ttft_seconds is not None:
        children.ttft.observe(ttft_seconds)
    for kind, count in (("input", usage.input_tokens), ("cached_input", usage.cached_input_tokens),
                        ("output", usage.output_tokens), ("reasoning", usage.reasoning_tokens)):
        if count:
            children.token(kind).inc(count)
    if cost is not None and cost.amount:
        children.currency(cost.currency).inc(float(cost.amount))


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


def exposition() -> tuple[bytes, str]:
    """The metrics text of this process, or of all workers in multiprocess mode."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
