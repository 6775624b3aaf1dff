"""The catalog pipeline, load -> schema -> link -> lint -> compile, and the snapshot it emits.

The snapshot is deterministic: documents are indexed by name and everything without a
meaningful order is sorted, so file layout and file order never change a byte. Lists whose
order means something stay as written: aliases and model properties (shown in that order).
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.catalog.document import Document
from gateway.catalog.link import Catalog, link
from gateway.catalog.lint import lint, module_available
from gateway.catalog.load import read_catalog
from gateway.catalog.salvage import Lost
from gateway.catalog.schema import validate_documents
from gateway.catalog.secrets import scan_secrets
from gateway.catalog.snapshot import (
    BREAKER_DEFAULTS,
    CHANNEL_DEFAULTS,
    CONSUMER_DEFAULTS,
    DEFAULT_CURRENCY,
    DEFAULT_DESTINATION,
    MAX_SNAPSHOT_BYTES,
    MODEL_DEFAULTS,
    PRIORITIES,
    SCHEMA_VERSION,
    SYSTEM_OWNER,
    TIMEOUT_DEFAULTS,
    canonical_json,
)
from gateway.diagnostics import ERROR, Diagnostic, has_errors, ordered

_PRICE_META = ("type", "currency", "unit", "images", "videos")
#: Realtime session limits, written to the snapshot only when the catalog sets them.
REALTIME_LIMITS = ("realtime_max_session_s", "realtime_idle_timeout_s", "realtime_max_frame_bytes")


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Every diagnostic of a catalog, and its snapshot when nothing blocks it."""

    diagnostics: tuple[Diagnostic, ...]
    snapshot: dict[str, Any] | None


def build(root: Path, *, strict: bool = False) -> BuildResult:
    """Load, validate and compile the catalog at `root`; no snapshot on errors
    (or on warnings too, under `strict`)."""
    loaded = read_catalog(Path(root))
    docs = loaded.documents
    schema = validate_documents(docs)
    cat, checked = check_documents(docs, schema, lost=loaded.lost)
    found = tuple(ordered(set(loaded.diagnostics + schema + checked)))
    if has_errors(found, strict):
        return BuildResult(found, None)
    with _gc_paused():
        snapshot, size = _compile(cat)
    if size > MAX_SNAPSHOT_BYTES:
        too_big = Diagnostic(
            str(root),
            0,
            0,
            "MY601",
            ERROR,
            f"the compiled snapshot is {size:,} bytes, over the limit of {MAX_SNAPSHOT_BYTES:,}",
            "look for long texts repeated through YAML aliases or merges, or split the catalog",
        )
        return BuildResult((*found, too_big), None)
    return BuildResult(found, snapshot)


def check_documents(
    docs: Sequence[Document],
    schema_diagnostics: Iterable[Diagnostic],
    *,
    has_module: Callable[[str], bool] = module_available,
    lost: Iterable[Lost] = (),
) -> tuple[Catalog, list[Diagnostic]]:
    """Link and lint the documents without schema errors; scan all of them for secrets.

    `has_module` says whether an optional dependency is importable (tests pretend); `lost`
    names the documents of files that failed to load, so nothing cascades from them.
    """
    bad = _with_errors(docs, schema_diagnostics)
    good = [d for d in docs if id(d) not in bad]
    cat, diags = link(good, dropped=[d for d in docs if id(d) in bad], lost=lost)
    diags.extend(lint(cat, has_module=has_module))
    prefixes = cat.settings.data.get("env_prefixes", ()) if cat.settings else ()
    diags.extend(scan_secrets(docs, prefixes))
    return cat, diags


def _with_errors(docs: Sequence[Document], diagnostics: Iterable[Diagnostic]) -> set[int]:
    """ids of the documents an error points into: the last document starting at or before it."""
    errors = [d for d in diagnostics if d.severity == ERROR]
    if not errors:
        return set()
    starts: dict[str, list[tuple[int, int, int]]] = {}
    for doc in docs:
        starts.setdefault(doc.file, []).append((doc.line, doc.col, id(doc)))
    for in_file in starts.values():
        in_file.sort()
    bad: set[int] = set()
    for d in errors:
        found = starts.get(d.file)
        if found:
            i = bisect.bisect_right(found, (d.line, d.col, float("inf"))) - 1
            bad.add(found[max(i, 0)][2])
    return bad


def compile_documents(docs: Iterable[Document]) -> dict[str, Any]:
    """The snapshot of documents already validated (pure: no files, no environment)."""
    cat, _ = link(docs)
    return compile_catalog(cat)


def compile_catalog(cat: Catalog) -> dict[str, Any]:
    """The snapshot's JSON form (see snapshot_format.SNAPSHOT_FORMAT) of a linked catalog."""
    with _gc_paused():
        return _compile(cat)[0]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Compile allocates many small objects and makes no reference cycles; the cyclic
    collector's passes over a large catalog's live objects cost a third of its time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile(cat: Catalog) -> tuple[dict[str, Any], int]:
    """The snapshot and the size of its canonical JSON, both from one serialisation."""
    settings = _settings(cat.settings)
    currency = settings["currency"]
    channels = {name: _channel(cat, ch, currency) for name, ch in sorted(cat.channels.items())}
    by_model: dict[str, list[dict[str, Any]]] = {}
    for c in channels.values():
        by_model.setdefault(c["model"], []).append(c)
    models = [_model(m, by_model.get(name, [])) for name, m in cat.models.items()]
    models.sort(key=lambda m: (m["order"], m["name"]))
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "settings": settings,
        "providers": {n: _provider(p) for n, p in sorted(cat.providers.items())},
        "capabilities": {n: _capability(c) for n, c in sorted(cat.kind("Capability").items())},
        "native_tools": {
            n: _native_tool(t, currency) for n, t in sorted(cat.kind("NativeTool").items())
        },
        "models": models,
        "channels": channels,
        "aliases": dict(sorted(cat.aliases.items())),
        "consumers": [_consumer(c) for _, c in sorted(cat.kind("Consumer").items())],
    }
    orgs = {n: _org(o) for n, o in sorted(cat.kind("Org").items())}
    if orgs:  # absent without Org documents: catalogs without them keep their digest
        body["orgs"] = orgs
    payload = canonical_json(body)
    body["digest"] = hashlib.sha256(payload).hexdigest()
    return body, len(payload) + len(',"digest":""') + 64


def write_snapshot(snapshot: Mapping[str, Any], path: Path | str) -> None:
    """Write the canonical JSON atomically: readers see the old file or the new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(snapshot_bytes(snapshot))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def snapshot_bytes(snapshot: Mapping[str, Any]) -> bytes:
    """The snapshot file's bytes: canonical JSON and a final newline."""
    return canonical_json(snapshot) + b"\n"


def amount(value: Any) -> str:
    """An exact decimal string without exponent: 2.5e-06 -> "0.0000025", "0.50" stays."""
    return format(Decimal(str(value)), "f")


def _settings(doc: Document | None) -> dict[str, Any]:
    data = doc.data if doc else {}
    defaults = data.get("defaults", {})
    breaker = defaults.get("circuit_breaker", {})
    # Emitted only when written, so catalogs without it keep their snapshot bytes and digest.
    server = {"server": dict(sorted(data["server"].items()))} if "server" in data else {}
    return {
        "system_prompt": data.get("system_prompt"),
        "currency": data.get("currency", DEFAULT_CURRENCY),
        **{k: defaults.get(k, v) for k, v in TIMEOUT_DEFAULTS.items()},
        "breaker": {k: breaker.get(k, v) for k, v in BREAKER_DEFAULTS.items()},
        **{k: defaults[k] for k in REALTIME_LIMITS if k in defaults},
        "env_prefixes": sorted(data.get("env_prefixes", ())),
        "internal_tasks": dict(sorted(data.get("internal_tasks", {}).items())),
        **server,
    }


def _provider(doc: Document) -> dict[str, Any]:
    d = doc.data
    return {
        "name": doc.name,
        "protocol": d["protocol"],
        "base_url": d.get("base_url"),
        "auth": dict(d.get("auth") or {"type": "none"}),
        "data_destination": d.get("data_destination", DEFAULT_DESTINATION),
        "headers": dict(d.get("headers", {})),
    }


def _capability(doc: Document) -> dict[str, Any]:
    return {
        "name": doc.name,
        "description": doc.data.get("description"),
        "applies_to": sorted(doc.data["applies_to"]),
    }


def _native_tool(doc: Document, currency: str) -> dict[str, Any]:
    d = doc.data
    ppc = d.get("price_per_call")
    return {
        "name": doc.name,
        "description": d.get("description"),
        "applies_to": sorted(d["applies_to"]),
        "spellings": dict(d.get("spellings", {})),
        "price_per_call": None if ppc is None else amount(ppc),
        "currency": d.get("currency", currency),
    }


def _model(doc: Document, mine: list[dict[str, Any]]) -> dict[str, Any]:
    d = doc.data
    mine.sort(key=lambda c: (PRIORITIES.index(c["priority"]), -c["weight"], c["name"]))
    return {
        "name": doc.name,
        "display_name": d.get("display_name", doc.name),
        "vendor": d.get("vendor"),
        "description": d.get("description"),
        "docs_url": d.get("docs_url"),
        "type": d["type"],
        **{k: d.get(k, v) for k, v in MODEL_DEFAULTS.items()},
        "owner": dict(d.get("owner") or SYSTEM_OWNER),
        "aliases": list(d.get("aliases", ())),
        "tags": sorted(d.get("tags", ())),
        "properties": dict(d.get("properties", {})),
        "capabilities": sorted(d.get("capabilities", ())),
        "native_tools": sorted(d.get("native_tools", ())),
        "system_prompt": d.get("system_prompt"),
        "channels": [c["name"] for c in mine],
    }


def _channel(cat: Catalog, doc: Document, currency: str) -> dict[str, Any]:
    d = doc.data
    provider = cat.provider_of(doc)
    pdata = provider.data if provider else {}
    ref = cat.prices[doc.name]
    if ref.price is not None:
        book_currency = ref.book.data.get("currency") if ref.book else None
        price = _price(ref.price, ref.price.get("currency") or book_currency or currency)
    else:
        price = None
    return {
        "name": doc.name,
        "model": d["model"],
        "provider": d["provider"],
        "protocol": pdata.get("protocol"),
        "upstream_model": d["upstream_model"],
        **{k: d.get(k, v) for k, v in CHANNEL_DEFAULTS.items()},
        "data_destination": d.get("data_destination")
        or pdata.get("data_destination")
        or DEFAULT_DESTINATION,
        "owner": dict(d["owner"]) if d.get("owner") else None,
        "options": dict(d.get("options", {})),
        "price": price,
        "price_source": ref.source if price is not None else None,
    }


def _price(price: Mapping[str, Any], currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {"currency": currency, "unit": price["unit"]}
    out.update({k: amount(v) for k, v in price.items() if k not in _PRICE_META})
    if "images" in price:
        out["images"] = {
            size: {q: amount(p) for q, p in qualities.items()}
            for size, qualities in price["images"].items()
        }
    if "videos" in price:
        out["videos"] = {size: amount(p) for size, p in price["videos"].items()}
    return out


def _consumer(doc: Document) -> dict[str, Any]:
    d = doc.data
    models = d.get("models")
    return {
        "name": doc.name,
        "status": d.get("status", CONSUMER_DEFAULTS["status"]),
        "key_sha256": sorted(d["key_sha256"]),
        "owner": dict(d["owner"]) if d.get("owner") else None,
        "orgs": sorted(d.get("orgs", ())),
        "scopes": sorted(d.get("scopes", CONSUMER_DEFAULTS["scopes"])),
        "max_data_destination": d.get("max_data_destination", DEFAULT_DESTINATION),
        "models": None if models is None else sorted(models),
        **({"quota": quota_form(d["quota"])} if d.get("quota") else {}),
    }


def _org(doc: Document) -> dict[str, Any]:
    return {
        "name": doc.name,
        "description": doc.data.get("description"),
        "quota": quota_form(doc.data["quota"]) if doc.data.get("quota") else None,
    }


def quota_form(quota: Mapping[str, Any]) -> dict[str, Any]:
    """A quota as the snapshot carries it: the limits set, budgets as exact decimal strings."""

    def limits(values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: amount(v) if k.startswith("budget_") else v
            for k, v in sorted(values.items())
            if k != "models"
        }

    out = limits(quota)
    if quota.get("models"):
        out["models"] = {m: limits(q) for m, q in sorted(quota["models"].items())}
    return out
