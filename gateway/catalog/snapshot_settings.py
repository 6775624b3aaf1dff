"""The catalog's Settings as the proxy serves them: timeouts, breaker, server guards, defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_CURRENCY = "USD"
TIMEOUT_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {
        "connect_timeout_s": 5,
        "first_byte_timeout_s": 60,
        "total_timeout_s": 300,
        "retry_budget": 2,
        "max_request_bytes": 8 * 1024 * 1024,
    }
)
BREAKER_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {"failure_threshold": 5, "cooldown_s": 30, "max_cooldown_s": 300}
)


@dataclass(frozen=True, slots=True)
class Breaker:
    failure_threshold: int = BREAKER_DEFAULTS["failure_threshold"]
    cooldown_s: float = BREAKER_DEFAULTS["cooldown_s"]
    max_cooldown_s: float = BREAKER_DEFAULTS["max_cooldown_s"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the HTTP server guards its connections and shuts down (Settings `server`)."""

    header_timeout_s: float = 10.0  # a connection's request head must arrive within this
    body_timeout_s: float = 60.0  # the whole request body must arrive within this after the head
    keepalive_timeout_s: float = 5.0  # an idle keep-alive connection is closed after this
    max_connections: int = 1000  # connections beyond this get 503 and are closed
    shutdown_deadline_s: float = 60.0  # after SIGTERM, what is in flight gets this long


@dataclass(frozen=True, slots=True)
class Settings:
    system_prompt: str | None = None
    currency: str = DEFAULT_CURRENCY
    connect_timeout_s: float = TIMEOUT_DEFAULTS["connect_timeout_s"]
    first_byte_timeout_s: float = TIMEOUT_DEFAULTS["first_byte_timeout_s"]
    total_timeout_s: float = TIMEOUT_DEFAULTS["total_timeout_s"]
    retry_budget: int = TIMEOUT_DEFAULTS["retry_budget"]
    max_request_bytes: int = TIMEOUT_DEFAULTS["max_request_bytes"]
    realtime_max_session_s: float = 3600.0
    realtime_idle_timeout_s: float = 300.0
    realtime_max_frame_bytes: int = 16 * 1024 * 1024
    breaker: Breaker = field(default_factory=Breaker)
    env_prefixes: tuple[str, ...] = ()
    internal_tasks: Mapping[str, str] = field(default_factory=dict)
    server: ServerSettings = field(default_factory=ServerSettings)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Settings:
        return cls(
            system_prompt=d.get("system_prompt"),
            currency=d.get("currency", DEFAULT_CURRENCY),
            **{k: d.get(k, v) for k, v in TIMEOUT_DEFAULTS.items()},
            realtime_max_session_s=d.get("realtime_max_session_s", 3600.0),
            realtime_idle_timeout_s=d.get("realtime_idle_timeout_s", 300.0),
            realtime_max_frame_bytes=d.get("realtime_max_frame_bytes", 16 * 1024 * 1024),
            breaker=Breaker(**d.get("breaker", {})),
            env_prefixes=tuple(d.get("env_prefixes", ())),
            internal_tasks=MappingProxyType(dict(d.get("internal_tasks", {}))),
            server=ServerSettings(**d.get("server", {})),
        )
