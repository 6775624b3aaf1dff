"""The compiled catalog: immutable values the proxy serves from, and their JSON form.

`compile` produces the JSON form (a plain dict, see `snapshot_format.SNAPSHOT_FORMAT`) and
its digest; a file is read back with `Snapshot.from_bytes` (digest checked once, there), a dict just
compiled in this process with `Snapshot.from_compiled`. The `Snapshot` keeps no copy of the
JSON form. Nothing here is mutated after
construction: a reload builds a whole new `Snapshot` and swaps one reference.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from gateway.catalog.snapshot_settings import BREAKER_DEFAULTS as BREAKER_DEFAULTS
from gateway.catalog.snapshot_settings import DEFAULT_CURRENCY, Settings
from gateway.catalog.snapshot_settings import TIMEOUT_DEFAULTS as TIMEOUT_DEFAULTS
from gateway.catalog.snapshot_settings import Breaker as Breaker
from gateway.catalog.snapshot_settings import ServerSettings as ServerSettings

SCHEMA_VERSION = 1

#: Data destinations, most to least protected, with their levels.
DATA_DESTINATIONS: Mapping[str, int] = MappingProxyType(
    {"protected": 10, "inner": 20, "mainland": 30, "overseas": 40}
)
PRIORITIES = ("high", "normal", "low")
# The defaults of the compiled form, in one place: compile writes them into every snapshot;
# reading a hand-made snapshot without them fills in the same values. Those of the Settings
# (currency, timeouts, breaker) are in `snapshot_settings`.
DEFAULT_DESTINATION = "overseas"
SYSTEM_OWNER: Mapping[str, str] = MappingProxyType({"type": "system", "code": "platform"})
MODEL_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"status": "active", "visibility": "public", "order": 1000}
)
CHANNEL_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"priority": "normal", "weight": 1, "status": "active"}
)
CONSUMER_DEFAULTS: Mapping[str, Any] = MappingProxyType({"status": "active", "scopes": ("public",)})
#: A compiled snapshot larger than this is refused by compile and by the proxy: the 4,381
#: model catalog generated from LiteLLM's price map compiles to 8.9 MB.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


def canonical_json(value: Any) -> bytes:
    """The one serialisation used for digests and snapshot files: sorted, compact, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a snapshot body without its own digest."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in body.items() if k != "digest"})
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class Owner:
    type: str
    code: str
    name: str | None = field(default=None, compare=False)  # for display; code identifies

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Owner | None:
        return None if d is None else cls(d["type"], d["code"], d.get("name"))


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    protocol: str
    base_url: str | None
    auth: Mapping[str, str]  # secrets still as ${ENV} references
    data_destination: str
    headers: Mapping[str, str]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provider:
        return cls(
            d["name"],
            d["protocol"],
            d.get("base_url"),
            MappingProxyType(dict(d.get("auth") or {"type": "none"})),
            d.get("data_destination", DEFAULT_DESTINATION),
            MappingProxyType(dict(d.get("headers", {}))),
        )


@dataclass(frozen=True, slots=True)
class Price:
    """A resolved price; amounts are exact decimals in `currency` per `unit`."""

    currency: str
    unit: str
    amounts: Mapping[
        str, Decimal
    ]  # input, cached_input, cache_write, output, reasoning, characters, audio, video
    images: Mapping[str, Mapping[str, Decimal]]  # size -> quality -> price
    videos: Mapping[str, Decimal] = field(default_factory=dict)  # size -> price per second

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Price | None:
        if d is None:
            return None
        amounts = {
            k: Decimal(v) for k, v in d.items() if k not in ("currency", "unit", "images", "videos")
        }
        images = {
            s: MappingProxyType({q: Decimal(p) for q, p in qs.items()})
            for s, qs in d.get("images", {}).items()
        }
        videos = {s: Decimal(p) for s, p in d.get("videos", {}).items()}
        return cls(
            d["currency"],
            d["unit"],
            MappingProxyType(amounts),
            MappingProxyType(images),
            MappingProxyType(videos),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    model: str
    provider: str
    protocol: str
    upstream_model: str
    priority: str
    weight: int
    status: str
    data_destination: str
    owner: Owner | None
    options: Mapping[str, Any]
    price: Price | None
    price_source: str | None

    @property
    def destination_level(self) -> int:
        return DATA_DESTINATIONS[self.data_destination]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Channel:
        return cls(
            d["name"],
            d["model"],
            d["provider"],
            d["protocol"],
            d["upstream_model"],
            d.get("priority", CHANNEL_DEFAULTS["priority"]),
            d.get("weight", CHANNEL_DEFAULTS["weight"]),
            d.get("status", CHANNEL_DEFAULTS["status"]),
            d["data_destination"],
            Owner.from_dict(d.get("owner")),
            MappingProxyType(dict(d.get("options", {}))),
            Price.from_dict(d.get("price")),
            d.get("price_source"),
        )


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    display_name: str
    vendor: str | None
    description: str | None
    docs_url: str | None
    type: str
    status: str
    visibility: str
    owner: Owner
    order: int
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    properties: Mapping[str, Any]
    capabilities: frozenset[str]
    native_tools: frozenset[str]
    system_prompt: str | None
    channels: tuple[str, ...]  # static routing order: priority class, then weight, then name

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Model:
        return cls(
            d["name"],
            d.get("display_name") or d["name"],
            d.get("vendor"),
            d.get("description"),
            d.get("docs_url"),
            d["type"],
            d.get("status", MODEL_DEFAULTS["status"]),
            d.get("visibility", MODEL_DEFAULTS["visibility"]),
            Owner.from_dict(d.get("owner")) or Owner(**SYSTEM_OWNER),
            d.get("order", MODEL_DEFAULTS["order"]),
            tuple(d.get("aliases", ())),
            tuple(d.get("tags", ())),
            MappingProxyType(dict(d.get("properties", {}))),
            frozenset(d.get("capabilities", ())),
            frozenset(d.get("native_tools", ())),
            d.get("system_prompt"),
            tuple(d.get("channels", ())),
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one quota scope; None: not limited. Budgets in the catalog's currency."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None
    budget_per_day: Decimal | None = None
    budget_per_month: Decimal | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Limits:
        def money(key: str) -> Decimal | None:
            return None if d.get(key) is None else Decimal(d[key])

        return cls(
            d.get("requests_per_minute"),
            d.get("tokens_per_minute"),
            d.get("concurrent_requests"),
            money("budget_per_day"),
            money("budget_per_month"),
        )


@dataclass(frozen=True, slots=True)
class Quota:
    """A consumer's or an org's quota: limits over all models, and per model."""

    limits: Limits
    models: Mapping[str, Limits]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Quota | None:
        if not d:
            return None
        return cls(
            Limits.from_dict(d),
            MappingProxyType({m: Limits.from_dict(q) for m, q in (d.get("models") or {}).items()}),
        )


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    status: str
    key_sha256: tuple[str, ...]
    owner: Owner | None
    orgs: frozenset[str]
    scopes: frozenset[str]
    max_data_destination: str
    models: frozenset[str] | None  # None: every model visible to it
    quota: Quota | None = None

    @property
    def destination_level(self) -> int:
        return DATA_DESTINATIONS[self.max_data_destination]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Consumer:
        models = d.get("models")
        return cls(
            d["name"],
            d.get("status", CONSUMER_DEFAULTS["status"]),
            tuple(d["key_sha256"]),
            Owner.from_dict(d.get("owner")),
            frozenset(d.get("orgs", ())),
            frozenset(d.get("scopes", CONSUMER_DEFAULTS["scopes"])),
            d.get("max_data_destination", DEFAULT_DESTINATION),
            None if models is None else frozenset(models),
            Quota.from_dict(d.get("quota")),
        )


@dataclass(frozen=True, slots=True)
class NativeTool:
    name: str
    description: str | None
    applies_to: tuple[str, ...]
    spellings: Mapping[str, Mapping[str, Any]]
    price_per_call: Decimal | None
    currency: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NativeTool:
        ppc = d.get("price_per_call")
        return cls(
            d["name"],
            d.get("description"),
            tuple(d.get("applies_to", ())),
            MappingProxyType(
                {p: MappingProxyType(dict(s)) for p, s in d.get("spellings", {}).items()}
            ),
            None if ppc is None else Decimal(ppc),
            d.get("currency", DEFAULT_CURRENCY),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One compiled catalog. Lookups are prebuilt so the request path never scans."""

    schema_version: int
    digest: str
    settings: Settings
    providers: Mapping[str, Provider]
    models: tuple[Model, ...]  # display order
    models_by_name: Mapping[str, Model]
    aliases: Mapping[str, str]
    channels: Mapping[str, Channel]
    capabilities: Mapping[str, Mapping[str, Any]]
    native_tools: Mapping[str, NativeTool]
    consumers: tuple[Consumer, ...]
    consumers_by_key: Mapping[str, Consumer]  # key sha256 hex -> consumer
    org_quotas: Mapping[str, Quota] = field(default_factory=dict)  # org name -> its quota

    def resolve_name(self, name: str) -> Model | None:
        """The model a client's name (model name or alias) refers to, if any."""
        model = self.models_by_name.get(name)
        if model is None and name in self.aliases:
            model = self.models_by_name.get(self.aliases[name])
        return model

    def channels_of(self, model: Model) -> tuple[Channel, ...]:
        return tuple(self.channels[c] for c in model.channels)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Snapshot:
        """Build from a JSON form read from elsewhere: its digest is checked first.

        Raises KeyError/ValueError/TypeError on a malformed one.
        """
        if d.get("digest") != digest_of(d):
            raise ValueError("snapshot digest does not match its content (truncated or edited?)")
        return cls.from_compiled(d)

    @classmethod
    def from_compiled(cls, d: Mapping[str, Any]) -> Snapshot:
        """Build from the JSON form `compile` just made in this process, whose digest it
        computed: checking it again would serialise the whole snapshot once more."""
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unsupported snapshot schema_version {d.get('schema_version')!r}")
        models = tuple(Model.from_dict(m) for m in d["models"])
        consumers = tuple(Consumer.from_dict(c) for c in d.get("consumers", ()))
        return cls(
            schema_version=d["schema_version"],
            digest=d["digest"],
            settings=Settings.from_dict(d.get("settings", {})),
            providers=MappingProxyType(
                {n: Provider.from_dict(p) for n, p in d["providers"].items()}
            ),
            models=models,
            models_by_name=MappingProxyType({m.name: m for m in models}),
            aliases=MappingProxyType(dict(d.get("aliases", {}))),
            channels=MappingProxyType({n: Channel.from_dict(c) for n, c in d["channels"].items()}),
            capabilities=MappingProxyType(dict(d.get("capabilities", {}))),
            native_tools=MappingProxyType(
                {n: NativeTool.from_dict(t) for n, t in d.get("native_tools", {}).items()}
            ),
            consumers=consumers,
            consumers_by_key=MappingProxyType(
                {k.lower(): c for c in consumers for k in c.key_sha256}
            ),
            org_quotas=MappingProxyType(
                {
                    n: q
                    for n, o in (d.get("orgs") or {}).items()
                    if (q := Quota.from_dict(o.get("quota"))) is not None
                }
            ),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        """Load a snapshot file: size, JSON, version and digest checked once, here."""
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise ValueError(
                f"snapshot is {len(data):,} bytes, over the limit of {MAX_SNAPSHOT_BYTES:,}"
            )
        return cls.from_dict(json.loads(data))
