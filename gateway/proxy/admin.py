"""The operator endpoints: Prometheus `/metrics` and `/admin/status`, for admin keys only."""

from __future__ import annotations

import hmac
import os

from gateway.errors import PermissionDenied
from gateway.proxy import auth
from gateway.proxy.exchange import Exchange, dumps
from gateway.proxy.pipeline import Pipeline
from gateway.proxy.reload import Loaded
from gateway.quota.gate import QuotaGate
from gateway.usage import metrics

#: A bearer token a Prometheus scraper may present instead of an admin consumer's key.
METRICS_KEY_ENV = "MODELYARD_METRICS_KEY"


def _require_admin(h: Pipeline, ex: Exchange, loaded: Loaded, *, metrics_key: bool) -> None:
    if metrics_key:
        expected = os.environ.get(METRICS_KEY_ENV)
        presented = auth.presented_key(ex.headers)
        if expected and presented and hmac.compare_digest(presented.encode(), expected.encode()):
            return
    consumer = h.consumer(loaded, ex)
    if "admin" not in consumer.scopes:
        raise PermissionDenied("this endpoint needs a key with the admin scope")


async def serve_metrics(h: Pipeline, ex: Exchange) -> None:
    loaded = h.loaded()
    _require_admin(h, ex, loaded, metrics_key=True)
    _collect_state(h, loaded)
    gate = _quota_gate(h)
    if gate is not None:
        from gateway.quota.report import quota_status

        metrics.set_quotas(await quota_status(gate, loaded.snapshot))
    h.accountant.drain()  # the requests of the last moments too
    body, content_type = metrics.exposition()
    await ex.respond(200, body, content_type=content_type.encode())


def _quota_gate(h: Pipeline) -> QuotaGate | None:
    return next((g for g in h.gates if isinstance(g, QuotaGate)), None)


def _collect_state(h: Pipeline, loaded: Loaded) -> None:
    """Gauges read at scrape time: circuit state per channel, the snapshot, reloads."""
    for name in loaded.snapshot.channels:
        breaker = h.router.breakers.peek(loaded.breaker_keys[name])
        metrics.set_circuit(name, "closed" if breaker is None else breaker.state)
    status = h.holder.status()
    metrics.set_snapshot(
        loaded.snapshot.digest, status.get("reloads", 0), status.get("refusals", 0)
    )


async def serve_status(h: Pipeline, ex: Exchange) -> None:
    """Every model and channel with status, circuit, recent success rate, latency, last error."""
    from gateway.proxy.status import status_of

    loaded = h.loaded()
    _require_admin(h, ex, loaded, metrics_key=False)
    document = status_of(h.holder, h.router.stats)
    gate = _quota_gate(h)
    if gate is not None:
        from gateway.quota.report import quota_status

        document["quotas"] = await quota_status(gate, loaded.snapshot)
    await ex.respond(200, dumps(document))
