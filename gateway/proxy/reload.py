"""Loading snapshots and swapping them in one step: from a file or a catalog, on change."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.catalog.snapshot import Snapshot
from gateway.errors import CatalogError
from gateway.proxy.breaker import Breakers, channel_key
from gateway.proxy.secrets import Secrets, explain, resolve_all

log = logging.getLogger("modelyard.proxy")

DEBOUNCE_MS = 150
#: What a broken source can raise while being read; anything else is a bug and propagates.
LOAD_ERRORS = (CatalogError, OSError, ValueError, KeyError, TypeError)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot with everything the request path needs precomputed for it."""

    snapshot: Snapshot
    secrets: Mapping[str, Secrets]  # provider name -> resolved auth
    unavailable: Mapping[str, str]  # provider name -> reason ("missing_secret", ...)
    breaker_keys: Mapping[str, str]  # channel name -> breaker identity
    loaded_at: float  # wall-clock seconds


def _missing_adapters(snapshot: Snapshot) -> dict[str, str]:
    """Providers whose protocol adapter cannot be imported here (an optional extra)."""
    from gateway.proxy.adapters.base import adapter_class

    missing: dict[str, str] = {}
    for name, provider in snapshot.providers.items():
        try:
            adapter_class(provider.protocol)
        except ImportError:
            missing[name] = "adapter_unavailable"
    return missing


def _unavailable_note(snapshot: Snapshot, name: str, reason: str) -> str:
    provider = snapshot.providers[name]
    if reason == "adapter_unavailable":
        from gateway.catalog.protocols import EXTRAS

        hint = EXTRAS.get(provider.protocol, ("", "a newer modelyard"))[1]
        return f"provider {name} is unavailable: its {provider.protocol} adapter needs {hint}"
    return explain(provider, reason)


def prepare(snapshot: Snapshot, environ: Mapping[str, str] | None = None) -> Loaded:
    secrets, unavailable = resolve_all(snapshot, environ)
    unavailable.update(_missing_adapters(snapshot))
    keys = {
        name: channel_key(c, snapshot.providers[c.provider])
        for name, c in snapshot.channels.items()
    }
    return Loaded(snapshot, secrets, unavailable, keys, time.time())


class Source(Protocol):
    """Where snapshots come from: read the current one; say when it may have changed."""

    def read(self) -> Snapshot:
        """The source's snapshot now; raises one of LOAD_ERRORS when it is broken."""
        ...

    def changes(self, stop: asyncio.Event) -> AsyncIterator[None]:
        """Yields each time the source may hold a new snapshot, until `stop` is set."""
        ...


class _WatchedPath:
    """A source on the local file system, watched for changes with watchfiles."""

    recursive = False

    def __init__(self, path: Path, watch_path: Path) -> None:
        self.path = path
        self.watch_path = watch_path

    def relevant(self, changed: str) -> bool:
        raise NotImplementedError

    async def changes(self, stop: asyncio.Event) -> AsyncIterator[None]:
        from watchfiles import awatch

        async for changed in awatch(
            self.watch_path,
            stop_event=stop,
            debounce=DEBOUNCE_MS,
            step=30,
            recursive=self.recursive,
        ):
            if any(self.relevant(path) for _, path in changed):
                yield None


class SnapshotFile(_WatchedPath):
    """A compiled snapshot file, deployed by atomic rename; watched through its directory.

    A Kubernetes ConfigMap volume updates in place another way: the kubelet writes a new
    timestamped directory and swaps the `..data` symlink to it; `snapshot.json` itself is a
    symlink through `..data` and never changes, so the swap is what counts as a change.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, path.parent)

    def relevant(self, changed: str) -> bool:
        return Path(changed).name in (self.path.name, "..data")

    def read(self) -> Snapshot:
        return Snapshot.from_bytes(self.path.read_bytes())


class CatalogDir(_WatchedPath):
    """A catalog directory compiled in-process."""

    recursive = True

    def __init__(self, path: Path) -> None:
        super().__init__(path, path)

    def relevant(self, changed: str) -> bool:
        return changed.endswith((".yaml", ".yml"))

    def read(self) -> Snapshot:
        from gateway.catalog.compile import build  # the compiler is only needed for this source

        result = build(self.path)
        if result.snapshot is None:
            errors = [d for d in result.diagnostics if d.severity == "error"]
            first = errors[0].text() if errors else "compile produced no snapshot"
            raise CatalogError(
                f"catalog has {len(errors)} error(s); first: {first}", tuple(result.diagnostics)
            )
        return Snapshot.from_compiled(result.snapshot)


class Holder:
    """The one reference to the snapshot being served, and what the last reload said."""

    def __init__(
        self,
        source: Source | None = None,
        breakers: Breakers | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.breakers = breakers or Breakers()
        self.environ = environ
        self.current: Loaded | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.reloads = 0
        self.refusals = 0
        #: Set when the process is shutting down: /readyz says 503 so traffic moves away.
        self.draining = False
        self.on_install: list[Callable[[Loaded], None]] = []  # told of every new snapshot
        self._lock = asyncio.Lock()
        self._told: set[tuple[str, str]] = set()  # (provider, reason) already logged

    def install(self, snapshot: Snapshot) -> Loaded:
        """Swap `snapshot` in; requests holding the old `Loaded` keep using it."""
        loaded = prepare(snapshot, self.environ)
        self.breakers.retain(loaded.breaker_keys.values())
        self.current = loaded  # the swap: one reference assignment
        self.last_error = self.last_error_at = None
        self._report_unavailable(loaded)
        self.reloads += 1
        for listener in self.on_install:
            listener(loaded)
        log.info("serving snapshot %s", snapshot.digest[:12])
        return loaded

    def _report_unavailable(self, loaded: Loaded) -> None:
        """Each unavailable provider once per process (and again only if its reason
        changes); on a reload, one summary line of all of them."""
        for name, reason in sorted(loaded.unavailable.items()):
            if (name, reason) not in self._told:
                self._told.add((name, reason))
                log.warning("%s", _unavailable_note(loaded.snapshot, name, reason))
        if self.reloads and loaded.unavailable:
            by_reason: dict[str, list[str]] = {}
            for name, reason in sorted(loaded.unavailable.items()):
                by_reason.setdefault(reason, []).append(name)
            log.warning(
                "snapshot %s: %d provider(s) still unavailable (%s)",
                loaded.snapshot.digest[:12],
                len(loaded.unavailable),
                "; ".join(f"{r}: {', '.join(n)}" for r, n in sorted(by_reason.items())),
            )

    def refuse(self, error: BaseException) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        self.last_error_at = time.time()
        self.refusals += 1
        log.error("refused new snapshot, still serving the previous one: %s", self.last_error)

    def _source(self) -> Source:
        if self.source is None:
            raise CatalogError("this proxy serves a fixed snapshot: there is nothing to reload")
        return self.source

    def reload(self) -> bool:
        """Read the source and swap it in; a broken one is refused and the old one kept."""
        try:
            snapshot = self._source().read()
        except LOAD_ERRORS as error:
            self.refuse(error)
            return False
        self.install(snapshot)
        return True

    async def reload_async(self) -> bool:
        """`reload` with the reading (and compiling) off the event loop."""
        async with self._lock:
            try:
                snapshot = await asyncio.to_thread(self._source().read)
            except LOAD_ERRORS as error:
                self.refuse(error)
                return False
            self.install(snapshot)
            return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever the source changes, until `stop` is set."""
        async for _ in self._source().changes(stop):
            await self.reload_async()

    def status(self) -> dict[str, Any]:
        """What /readyz shows: no secrets, only digest, times and the last refusal."""
        current = self.current
        return {
            "ready": current is not None and not self.draining,
            "draining": self.draining,
            "digest": current.snapshot.digest if current else None,
            "loaded_at": _iso(current.loaded_at) if current else None,
            "reloads": self.reloads,
            "refusals": self.refusals,
            "last_reload_error": None
            if self.last_error is None
            else {"message": self.last_error, "at": _iso(self.last_error_at)},
            "unavailable_providers": dict(current.unavailable) if current else {},
        }


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
