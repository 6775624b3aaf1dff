"""Model tests: the smallest real request of each model type, sent through every channel's adapter.

    targets = select(snapshot, ["gpt-4o"], all_models=False, channel=None)
    report = run(snapshot, targets, timeout_s=20)      # or `await probe(...)` with your http
    report.exit_code                                   # 1 when a public model has no usable channel

Requests go straight to the adapters (no proxy, no router, no breaker), one per channel,
at most `concurrency` at a time, each bounded by `timeout_s`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from gateway.catalog.protocols import EXTRAS
from gateway.catalog.snapshot import Channel, Model, Snapshot
from gateway.errors import ModelyardError
from gateway.proxy import probe_sessions
from gateway.proxy.adapters.base import (
    Adapter,
    Call,
    Deadline,
    UpstreamHTTP,
    adapter_class,
)
from gateway.proxy.probe_errors import (  # re-exported: the probe's public surface
    ERROR as ERROR,
)
from gateway.proxy.probe_errors import (
    OUTCOMES as OUTCOMES,
)
from gateway.proxy.probe_errors import (
    SKIPPED,
    UNAVAILABLE,
    UNSUPPORTED,
    USABLE,
    ErrorRecorder,
    classify,
)
from gateway.proxy.probe_errors import (
    TIMEOUT as TIMEOUT,
)
from gateway.proxy.probe_errors import (
    upstream_message as upstream_message,
)
from gateway.proxy.probe_requests import (  # re-exported: the probe's public surface
    PROBE_TEXT as PROBE_TEXT,
)
from gateway.proxy.probe_requests import (
    ProbeRequest,
    smallest_request,
)
from gateway.proxy.probe_requests import (
    silent_wav as silent_wav,
)
from gateway.proxy.probe_requests import (
    tiny_png as tiny_png,
)
from gateway.proxy.secrets import references, resolve_provider

T = TypeVar("T")

#: Model types whose smallest request still costs real money; probed only when asked.
COSTLY_TYPES = frozenset({"image-generation", "image-edit", "video-generation"})
#: Probed as a session or a job rather than one request (gateway/proxy/probe_sessions.py).
SESSION_ENDPOINTS = frozenset({"realtime", "videos"})


class ProbeSelectionError(ModelyardError):
    """The models or channel asked for are not in the snapshot, or the request is ambiguous."""


@dataclass(frozen=True, slots=True)
class Target:
    model: Model
    channel: Channel


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one channel answered to its probe."""

    model: str
    channel: str
    type: str
    provider: str
    protocol: str
    upstream_model: str
    channel_status: str
    outcome: str  # one of OUTCOMES
    latency_ms: float | None
    code: str | None
    message: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ProbeReport:
    results: tuple[ProbeResult, ...]
    failing_models: tuple[str, ...]  # public active models with no usable channel probed

    @property
    def exit_code(self) -> int:
        return 1 if self.failing_models else 0

    def counts(self) -> dict[str, int]:
        return {o: sum(r.outcome == o for r in self.results) for o in OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failing_models,
            "failing_models": list(self.failing_models),
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
        }


# ----- choosing what to probe -----


def select(
    snapshot: Snapshot, names: Sequence[str], *, all_models: bool, channel: str | None
) -> list[Target]:
    """The (model, channel) pairs to probe: named models (or aliases), every active model
    with `all_models`, narrowed to one channel with `channel`."""
    if names and all_models:
        raise ProbeSelectionError("name models or use --all, not both")
    if channel is not None and channel not in snapshot.channels:
        raise ProbeSelectionError(f"unknown channel `{channel}`")
    if all_models:
        models = [m for m in snapshot.models if m.status == "active"]
    elif names:
        models = []
        for name in names:
            found = snapshot.resolve_name(name)
            if found is None:
                raise ProbeSelectionError(f"unknown model `{name}`")
            if found not in models:
                models.append(found)
    elif channel is not None:
        models = [snapshot.models_by_name[snapshot.channels[channel].model]]
    else:
        raise ProbeSelectionError("name one or more models, use --all, or give --channel")
    targets = [
        Target(m, c)
        for m in models
        for c in snapshot.channels_of(m)
        if channel is None or c.name == channel
    ]
    if channel is not None and not targets:
        raise ProbeSelectionError(f"channel `{channel}` serves none of the models named")
    return targets


# ----- probing -----


def resolve_secrets(
    snapshot: Snapshot, channel: Channel, environ: Mapping[str, str]
) -> Mapping[str, str] | tuple[str, str, str]:
    """The provider's resolved auth, or (outcome, code, why) naming variables, never values."""
    provider = snapshot.providers[channel.provider]
    prefixes = snapshot.settings.env_prefixes
    result = resolve_provider(provider, environ, prefixes)
    if not isinstance(result, str):
        return result
    names = sorted({n for v in provider.auth.values() for n in references(v)})
    if result == "secret_not_allowed":
        outside = [n for n in names if not n.startswith(prefixes)]
        return (
            UNAVAILABLE,
            result,
            f"{', '.join(outside)} is outside the allowed env prefixes ({', '.join(prefixes)})",
        )
    missing = [n for n in names if not environ.get(n)]
    return UNAVAILABLE, result, f"missing secret: set {', '.join(missing)}"


def adapter_or_reason(protocol: str) -> type[Adapter] | tuple[str, str, str]:
    """The protocol's adapter class, or (outcome, code, why) when there is none to use."""
    try:
        return adapter_class(protocol)
    except ImportError as exc:
        module = f"gateway.proxy.adapters.{protocol.replace('-', '_')}"
        if isinstance(exc, ModuleNotFoundError) and exc.name == module:
            return UNSUPPORTED, "no_adapter", f"no adapter for protocol {protocol}"
        extra = EXTRAS.get(protocol)
        hint = f": {extra[1]}" if extra else ""
        return (
            UNAVAILABLE,
            "missing_extra",
            f"the {protocol} adapter needs {exc.name or 'a package'}{hint}",
        )


async def probe_one(
    snapshot: Snapshot,
    target: Target,
    http: UpstreamHTTP,
    *,
    environ: Mapping[str, str],
    timeout_s: float,
    include_costly: bool,
) -> ProbeResult:
    """Probe one channel of one model."""
    model, channel = target.model, target.channel

    def result(
        outcome: str,
        code: str | None = None,
        message: str | None = None,
        latency_ms: float | None = None,
    ) -> ProbeResult:
        return ProbeResult(
            model.name,
            channel.name,
            model.type,
            channel.provider,
            channel.protocol,
            channel.upstream_model,
            channel.status,
            outcome,
            latency_ms,
            code,
            message,
        )

    if model.type in COSTLY_TYPES and not include_costly:
        return result(SKIPPED, "costly", f"{model.type} is probed only with --include-costly")
    request = smallest_request(model)
    if request is None:
        return result(UNSUPPORTED, "no_probe", f"{model.type} models have no request to probe")
    cls = adapter_or_reason(channel.protocol)
    if isinstance(cls, tuple):
        return result(*cls)
    if request.endpoint not in cls.endpoints:
        return result(
            UNSUPPORTED,
            "endpoint",
            f"the {channel.protocol} adapter does not serve {request.endpoint}",
        )
    secrets = resolve_secrets(snapshot, channel, environ)
    if isinstance(secrets, tuple):
        return result(*secrets)
    recorder = ErrorRecorder(http)
    call = probe_call(snapshot, target, request, secrets, timeout_s)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            if request.endpoint in SESSION_ENDPOINTS:
                await probe_sessions.send(cls(recorder), call)
            else:
                await cls(recorder).send(call)
    except Exception as error:  # noqa: BLE001 - every failure is a finding, reported per channel
        latency = round((time.monotonic() - started) * 1000, 1)
        # Only values that came from the environment are secret (not e.g. a header's name).
        values = [
            secrets[k] for k, raw in call.provider.auth.items() if references(raw) and k in secrets
        ]
        outcome, code, message = classify(error, recorder, timeout_s, values)
        return result(outcome, code, message, latency)
    return result(USABLE, latency_ms=round((time.monotonic() - started) * 1000, 1))


def probe_call(
    snapshot: Snapshot,
    target: Target,
    request: ProbeRequest,
    secrets: Mapping[str, str],
    timeout_s: float,
) -> Call:
    settings = snapshot.settings
    return Call(
        endpoint=request.endpoint,
        body=request.body,
        model=target.model,
        channel=target.channel,
        provider=snapshot.providers[target.channel.provider],
        secrets=secrets,
        native_tools={},
        deadline=Deadline(
            min(settings.connect_timeout_s, timeout_s), timeout_s, time.monotonic() + timeout_s
        ),
        files=request.files,
        request_id=f"probe-{os.urandom(6).hex()}",
    )


async def probe(
    snapshot: Snapshot,
    targets: Sequence[Target],
    http: UpstreamHTTP,
    *,
    environ: Mapping[str, str] | None = None,
    concurrency: int = 4,
    timeout_s: float = 20.0,
    include_costly: bool = False,
) -> ProbeReport:
    """Probe every target, at most `concurrency` at once; results in target order."""
    environ = os.environ if environ is None else environ
    gate = asyncio.Semaphore(max(1, concurrency))

    async def bounded(target: Target) -> ProbeResult:
        async with gate:
            return await probe_one(
                snapshot,
                target,
                http,
                environ=environ,
                timeout_s=timeout_s,
                include_costly=include_costly,
            )

    results = tuple(await asyncio.gather(*(bounded(t) for t in targets)))
    return ProbeReport(results, failing_models(snapshot, results))


def failing_models(snapshot: Snapshot, results: Sequence[ProbeResult]) -> tuple[str, ...]:
    """Public active models whose probed active channels (skipped ones aside) include no
    usable one. Inactive channels are reported but never make a model pass or fail."""
    probed: dict[str, bool] = {}
    for r in results:
        if r.outcome != SKIPPED and r.channel_status == "active":
            probed[r.model] = probed.get(r.model, False) or r.outcome == USABLE
    return tuple(
        name
        for name, usable in probed.items()
        if not usable
        and snapshot.models_by_name[name].visibility == "public"
        and snapshot.models_by_name[name].status == "active"
    )


def run(
    snapshot: Snapshot,
    targets: Sequence[Target],
    *,
    environ: Mapping[str, str] | None = None,
    concurrency: int = 4,
    timeout_s: float = 20.0,
    include_costly: bool = False,
) -> ProbeReport:
    """`probe` on a fresh pooled HTTP client, closed afterwards."""
    return on_fresh_http(
        lambda http: probe(
            snapshot,
            targets,
            http,
            environ=environ,
            concurrency=concurrency,
            timeout_s=timeout_s,
            include_costly=include_costly,
        )
    )


def on_fresh_http(work: Callable[[UpstreamHTTP], Awaitable[T]]) -> T:
    """Run `work` in a new event loop with a pooled upstream HTTP client, closed afterwards:
    how the CLI's probes reach the upstreams."""
    from gateway.proxy.upstream_http import AiohttpUpstream

    async def main() -> T:
        http = AiohttpUpstream()
        try:
            return await work(http)
        finally:
            await http.aclose()

    return asyncio.run(main())
