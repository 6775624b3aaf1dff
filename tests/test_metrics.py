"""Request metrics are added up per (model, channel) and exported exactly, at the latest a
flush interval later, and at once before a scrape."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from gateway.catalog.snapshot import Model
from gateway.proxy.meter import Meter
from gateway.usage import metrics
from gateway.usage.accounting import Accountant
from gateway.usage.log import UsageLog
from gateway.usage.pricing import Cost, Usage


def test_bulk_histogram_counts_equal_observing_one_by_one():
    rng = random.Random(3)
    values = [
        rng.choice([0.0, 0.005, 0.0051, 1.0, 200.0]) or rng.uniform(0, 150) for _ in range(500)
    ]
    one, bulk = CollectorRegistry(), CollectorRegistry()
    by_one = Histogram("t", "t", ["m"], buckets=metrics.LATENCY_BUCKETS, registry=one).labels("a")
    in_bulk = Histogram("t", "t", ["m"], buckets=metrics.LATENCY_BUCKETS, registry=bulk).labels("a")
    counts = [0] * len(metrics._BOUNDS)
    for value in values:
        by_one.observe(value)
        counts[metrics.bisect.bisect_left(metrics._BOUNDS, value)] += 1
    metrics._add_to_histogram(in_bulk, counts, sum(values))
    strip = lambda text: [line for line in text.decode().splitlines() if "_created" not in line]  # noqa: E731
    assert strip(generate_latest(one)) == strip(generate_latest(bulk))


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_requests_are_exported_exactly_after_a_flush():
    usage = Usage(input_tokens=7, cached_input_tokens=2, output_tokens=5, reasoning_tokens=1)
    cost = Cost(Decimal("0.000125"), "USD")
    for status in (200, 200, 200, 502):
        metrics.observe_request(
            "m-exact",
            "c-exact",
            status,
            0.02,
            0.004,
            usage if status == 200 else Usage(),
            cost if status == 200 else None,
        )
    metrics.exposition()  # flushes first
    labels = {"model": "m-exact", "channel": "c-exact"}
    assert sample("modelyard_requests_total", status="200", **labels) == 3
    assert sample("modelyard_requests_total", status="502", **labels) == 1
    assert sample("modelyard_tokens_total", kind="input", **labels) == 21
    assert sample("modelyard_tokens_total", kind="cached_input", **labels) == 6
    assert sample("modelyard_tokens_total", kind="reasoning", **labels) == 3
    assert abs(sample("modelyard_cost_total", currency="USD", **labels) - 0.000375) < 1e-12
    assert sample("modelyard_request_duration_seconds_count", model="m-exact") == 4
    assert sample("modelyard_request_duration_seconds_bucket", model="m-exact", le="0.025") == 4
    assert sample("modelyard_request_duration_seconds_bucket", model="m-exact", le="0.01") == 0
    assert sample("modelyard_time_to_first_token_seconds_bucket", model="m-exact", le="0.005") == 4


def finish(accountant: Accountant, model: Model) -> None:
    accountant.finish(
        Meter("chat", model.name, {}),
        request_id="r",
        consumer="c",
        model=model,
        channel=None,
        upstream=None,
        attempts=1,
        status=200,
        error_code=None,
        native_tools={},
    )


def test_a_running_loop_exports_within_the_interval_without_a_scrape(monkeypatch):
    monkeypatch.setattr(Accountant, "INTERVAL_S", 0.05)
    accountant, model = (
        Accountant(UsageLog(None)),
        Model.from_dict({"name": "m-timer", "type": "chat"}),
    )

    def count() -> float | None:
        return sample("modelyard_requests_total", model="m-timer", channel="-", status="200")

    async def main() -> list[float | None]:
        finish(accountant, model)
        seen = [count()]
        await asyncio.sleep(0.2)
        return [*seen, count()]

    assert asyncio.run(main()) == [None, 1.0]
    # the loop is gone: the next request arms a timer on the next loop, or is counted at once
    finish(accountant, model)
    assert count() == 2.0


def test_a_batch_too_large_is_counted_at_once():
    accountant, model = (
        Accountant(UsageLog(None)),
        Model.from_dict({"name": "m-batch", "type": "chat"}),
    )

    async def main() -> float | None:
        for _ in range(Accountant.MAX_PENDING):
            finish(accountant, model)
        return sample("modelyard_requests_total", model="m-batch", channel="-", status="200")

    assert asyncio.run(main()) == Accountant.MAX_PENDING
