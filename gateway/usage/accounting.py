"""What each request cost, logged and counted off the request path.

The proxy measures each request with a `Meter` (gateway/proxy/meter.py) and calls
`Accountant.finish(...)` when the answer is complete (or failed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from gateway.catalog.snapshot import Channel, Model, NativeTool
from gateway.usage import metrics
from gateway.usage.log import UsageLog, request_line
from gateway.usage.pricing import Cost, Usage, cost_of
from gateway.usage.stats import Stats

if TYPE_CHECKING:
    from gateway.proxy.meter import Meter

log = logging.getLogger("modelyard.usage")


class Accountant:
    """Turns finished requests into a cost, usage log lines and metrics.

    `finish` computes the cost at once (the answer's header carries it) and keeps a record
    of names and numbers, never the request or its body. Every `INTERVAL_S` one event-loop
    callback turns the records that piled up into metrics and log lines in one pass, with
    no callback scheduled per request. Against recording each request in a callback of its
    own, this halved what accounting costs a request in-process (measured with
    `python3 -m benchmarks.proxy.inprocess`): the counting and formatting run warm in a
    tight loop, between none of the proxy's other work.
    """

    INTERVAL_S: ClassVar[float] = 0.1
    MAX_PENDING: ClassVar[int] = 10_000  # records kept before a batch is written at once

    def __init__(
        self, log: UsageLog, *, metrics_enabled: bool = True, stats: Stats | None = None
    ) -> None:
        self.log = log
        self.metrics_enabled = metrics_enabled
        self.stats = stats  # the upstream attempts of every channel, for their metric
        self._pending: list[tuple[Any, ...]] = []
        self._armed_on: asyncio.AbstractEventLoop | None = None  # the loop that will drain

    def finish(
        self,
        meter: Meter,
        *,
        request_id: str,
        consumer: str,
        model: Model | None,
        channel: Channel | None,
        upstream: str | None,
        attempts: int,
        status: int,
        error_code: str | None,
        native_tools: Mapping[str, NativeTool],
        usage: Usage | None = None,
    ) -> Cost | None:
        """`usage` is given by endpoints that measure it themselves (images, audio)."""
        ended = time.perf_counter()
        if status >= 400:
            usage = Usage()
        elif usage is None:
            usage = meter.usage()
        cost = cost_of(usage, channel.price, native_tools) if channel and status < 400 else None
        if self.metrics_enabled or self.log.enabled:
            first = meter.first_chunk
            self._pending.append(
                (
                    time.time(),
                    request_id,
                    consumer,
                    model.name if model else "-",
                    meter.requested_model,
                    channel,
                    upstream,
                    meter.endpoint,
                    bool(meter.body.get("stream")),
                    attempts,
                    status,
                    error_code,
                    ended - meter.started,
                    None if first is None else first - meter.started,
                    usage,
                    cost,
                )
            )
            if len(self._pending) >= self.MAX_PENDING:
                self.drain()
            elif self._armed_on is None or self._armed_on.is_closed():
                self._arm()
        return cost

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: called from plain code, recorded now
            self.drain()
            return
        loop.call_later(self.INTERVAL_S, self.drain)
        self._armed_on = loop

    def drain(self) -> None:
        """Count and log the records that piled up.

        One record's failure never costs another record its line or its counts, and a
        failure in metrics never costs a log line: each is contained and logged.
        """
        self._armed_on = None
        records, self._pending = self._pending, []
        if not records:
            return
        if self.metrics_enabled:
            self._count(records)
        if self.log.enabled:
            lines = []
            for record in records:
                try:
                    lines.append(_log_line(record))
                except Exception:
                    log.exception("usage log line of request %s failed", record[1])
            self.log.write(lines)

    def _count(self, records: list[tuple[Any, ...]]) -> None:
        observe = metrics.observe_request
        for (
            _,
            request_id,
            _,
            model,
            _,
            channel,
            _,
            _,
            _,
            _,
            status,
            _,
            latency,
            ttft,
            usage,
            cost,
        ) in records:
            try:
                observe(model, channel.name if channel else "-", status, latency, ttft, usage, cost)
            except Exception:
                log.exception("metrics of request %s failed", request_id)
        try:
            metrics.flush()
            if self.stats is not None:
                metrics.add_attempts(self.stats.take_attempts())
        except Exception:
            log.exception("moving counts into the metrics failed")

    def close(self) -> None:
        """Count and log what is pending, then stop logging."""
        self.drain()
        self.log.close()


def _log_line(record: tuple[Any, ...]) -> str:
    """The usage log line of a record kept by `Accountant.finish`."""
    (
        when,
        request_id,
        consumer,
        model,
        requested_model,
        channel,
        upstream,
        endpoint,
        stream,
        attempts,
        status,
        error_code,
        latency,
        ttft,
        usage,
        cost,
    ) = record
    return request_line(
        when,
        request_id,
        consumer,
        model,
        requested_model,
        channel and channel.name,
        channel and channel.provider,
        upstream,
        endpoint,
        stream,
        attempts,
        status,
        error_code,
        round(latency * 1000, 2),
        None if ttft is None else round(ttft * 1000, 2),
        usage.as_dict(),
        cost.text() if cost else None,
        cost.currency if cost else None,
    )
