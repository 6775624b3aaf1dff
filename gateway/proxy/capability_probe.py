"""Capability tests: per declared capability of each channel, the smallest request proving it.

    report = run_capabilities(snapshot, select(snapshot, [], all_models=True, channel=None))
    report.exit_code      # 1 when a declared capability is unsupported, failed or timed out

A forced function call and a tool-result round trip prove `tools`; a 1x1 image
`image_input`; a stream `streaming`; response_format json_object / json_schema their
capabilities; embeddings `dimensions` and each speech voice their properties. An upstream
that refuses the request (a 4xx) makes the capability `unsupported`, with its message.
Requests go through each channel's adapter and conversation options, as the proxy sends them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from gateway.catalog.snapshot import Snapshot
from gateway.errors import UpstreamError
from gateway.proxy import conversation
from gateway.proxy import probe as base
from gateway.proxy.adapters.base import Adapter, Call
from gateway.proxy.capability_checks import CHAT_CHECKS, NotProven, Send, Stream
from gateway.proxy.chunk import as_dict
from gateway.proxy.probe import (
    ERROR,
    SKIPPED,
    TIMEOUT,
    UNSUPPORTED,
    USABLE,
    ProbeRequest,
    Target,
)
from gateway.usage.redact import sanitize

FAILING = frozenset({UNSUPPORTED, ERROR, TIMEOUT})


@dataclass(frozen=True, slots=True)
class CapabilityResult:
    model: str
    channel: str
    protocol: str
    capability: str
    outcome: str
    latency_ms: float | None
    code: str | None
    message: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CapabilityReport:
    results: tuple[CapabilityResult, ...]

    @property
    def failing(self) -> tuple[CapabilityResult, ...]:
        return tuple(r for r in self.results if r.outcome in FAILING)

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0

    def counts(self) -> dict[str, int]:
        return {o: sum(r.outcome == o for r in self.results) for o in base.OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failing,
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
        }


# ----- one channel -----


@dataclass(slots=True)
class _Channel:
    """Sends probe requests through one channel as the proxy would (adapter + options)."""

    snapshot: Snapshot
    target: Target
    cls: type[Adapter]
    http: Any
    secrets: Mapping[str, str]
    timeout_s: float
    recorder: Any = None

    def _call(self, request: ProbeRequest) -> tuple[Adapter, Call]:
        self.recorder = base.ErrorRecorder(self.http)
        call = base.probe_call(self.snapshot, self.target, request, self.secrets, self.timeout_s)
        return self.cls(self.recorder), call

    async def send(self, request: ProbeRequest) -> Mapping[str, Any]:
        adapter, call = self._call(request)
        reply = conversation.finish(
            call, await conversation.send(adapter, conversation.prepare(call))
        )
        return reply.body or {}

    async def stream(self, request: ProbeRequest) -> list[dict[str, Any]]:
        adapter, call = self._call(request)
        chunks = conversation.finish_stream(call, adapter.stream(conversation.prepare(call)))
        return [as_dict(c) async for c in chunks]


def _checks(target: Target) -> list[tuple[str, Callable[[_Channel], Awaitable[None]] | None]]:
    """(capability, check) pairs for the model's declared capabilities and properties; a
    check of None means there is no request that proves it (reported as skipped)."""
    model = target.model
    name = model.name
    out: list[tuple[str, Callable[[_Channel], Awaitable[None]] | None]] = []
    if model.type == "chat":
        for capability in sorted(model.capabilities):
            check = CHAT_CHECKS.get(capability)
            out.append((capability, None if check is None else partial(_chat_check, check, name)))
    elif model.type == "embedding" and model.properties.get("dimensions"):
        out.append(("dimensions", partial(_dimensions, name, model.properties["dimensions"])))
    elif model.type == "speech":
        for voice, upstream in sorted((model.properties.get("voices") or {}).items()):
            out.append((f"voice:{voice}", partial(_voice, name, upstream)))
    return out


def _chat_check(
    check: Callable[[str, Send, Stream], Awaitable[None]], name: str, channel: _Channel
) -> Awaitable[None]:
    return check(name, channel.send, channel.stream)


async def _dimensions(name: str, dimensions: int, channel: _Channel) -> None:
    answer = await channel.send(
        ProbeRequest(
            "embeddings", {"model": name, "input": base.PROBE_TEXT, "dimensions": dimensions}, {}
        )
    )
    got = len(((answer.get("data") or [{}])[0]).get("embedding") or ())
    if got != dimensions:
        raise NotProven(f"asked for {dimensions} dimensions, got {got}")


async def _voice(name: str, voice: str, channel: _Channel) -> None:
    adapter, call = channel._call(
        ProbeRequest("audio.speech", {"model": name, "input": base.PROBE_TEXT, "voice": voice}, {})
    )
    reply = await adapter.send(call)
    if reply.chunks is not None:
        async for _ in reply.chunks:
            pass


async def probe_channel(
    snapshot: Snapshot, target: Target, http: Any, *, environ: Mapping[str, str], timeout_s: float
) -> list[CapabilityResult]:
    """Every declared capability of one channel, in capability order."""
    model, ch = target.model, target.channel
    checks = _checks(target)

    def result(
        capability: str,
        outcome: str,
        code: str | None = None,
        message: str | None = None,
        latency: float | None = None,
    ) -> CapabilityResult:
        return CapabilityResult(
            model.name, ch.name, ch.protocol, capability, outcome, latency, code, message
        )

    cls = base.adapter_or_reason(ch.protocol)
    secrets = base.resolve_secrets(snapshot, ch, environ)
    blocked = cls if isinstance(cls, tuple) else secrets if isinstance(secrets, tuple) else None
    if blocked is not None:
        return [result(c, *blocked) for c, _ in checks]
    assert not isinstance(cls, tuple) and not isinstance(secrets, tuple)
    channel = _Channel(snapshot, target, cls, http, secrets, timeout_s)
    values = [v for k, v in secrets.items() if k != "type"]
    out = []
    for capability, check in checks:
        if check is None:
            out.append(result(capability, SKIPPED, "no_probe", f"no request proves {capability}"))
            continue
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                await check(channel)
        except Exception as error:  # noqa: BLE001 - every failure is a finding
            latency = round((time.monotonic() - started) * 1000, 1)
            out.append(
                result(capability, *_classify(error, channel.recorder, timeout_s, values), latency)
            )
            continue
        out.append(
            result(capability, USABLE, latency=round((time.monotonic() - started) * 1000, 1))
        )
    return out


def _classify(
    error: BaseException, recorder: Any, timeout_s: float, values: Sequence[str]
) -> tuple[str, str | None, str | None]:
    """A 4xx from the upstream (or an answer that proves nothing) is `unsupported`."""
    if isinstance(error, NotProven):
        return UNSUPPORTED, "not_proven", str(error)
    if (
        isinstance(error, UpstreamError)
        and recorder is not None
        and recorder.status is not None
        and 400 <= recorder.status < 500
        and recorder.status not in (401, 403, 429)
    ):
        code, message = base.upstream_message(recorder.body)
        return (
            UNSUPPORTED,
            code or str(recorder.status),
            sanitize(f"{recorder.status}: {message or error.message}", values),
        )
    return base.classify(
        error,
        recorder or base.ErrorRecorder(None),  # type: ignore[arg-type]
        timeout_s,
        values,
    )


async def probe_capabilities(
    snapshot: Snapshot,
    targets: Sequence[Target],
    http: Any,
    *,
    environ: Mapping[str, str],
    concurrency: int = 4,
    timeout_s: float = 20.0,
) -> CapabilityReport:
    """Every active target's capabilities, at most `concurrency` channels at once."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def bounded(target: Target) -> list[CapabilityResult]:
        async with gate:
            return await probe_channel(snapshot, target, http, environ=environ, timeout_s=timeout_s)

    active = [t for t in targets if t.channel.status == "active"]
    results = await asyncio.gather(*(bounded(t) for t in active))
    return CapabilityReport(tuple(r for rows in results for r in rows))


def run_capabilities(
    snapshot: Snapshot,
    targets: Sequence[Target],
    *,
    environ: Mapping[str, str] | None = None,
    concurrency: int = 4,
    timeout_s: float = 20.0,
) -> CapabilityReport:
    """`probe_capabilities` on a fresh pooled HTTP client, closed afterwards."""
    import os

    return base.on_fresh_http(
        lambda http: probe_capabilities(
            snapshot,
            targets,
            http,
            environ=os.environ if environ is None else environ,
            concurrency=concurrency,
            timeout_s=timeout_s,
        )
    )
