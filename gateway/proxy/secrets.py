"""Resolving the `${ENV}` references of providers' auth when a snapshot is loaded."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping

from gateway.catalog.snapshot import Provider, Snapshot

log = logging.getLogger("modelyard.proxy")

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Secrets(Mapping[str, str]):
    """A provider's auth with references resolved; its repr never shows a value."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Secrets(type={self._values.get('type')!r}, ***)"


def references(value: str) -> list[str]:
    """The environment variable names a string refers to."""
    return _REF.findall(value)


def resolve_provider(provider: Provider, environ: Mapping[str, str],
                     prefixes: tuple[str, ...]) -> Secrets | str:
    """The resolved auth of `provider`, or the reason it cannot be resolved (no value in it)."""
    values: dict[str, str] = {}
    for field, raw in provider.auth.items():
        for name in references(raw):
            if prefixes and not name.startswith(prefixes):
                return "secret_not_allowed"
            if not environ.get(name):
                return "missing_secret"
        values[field] = _REF.sub(lambda m: environ[m.group(1)], raw)
    return Secrets(values)


def resolve_all(snapshot: Snapshot, environ: Mapping[str, str] | None = None
                ) -> tuple[dict[str, Secrets], dict[str, str]]:
    """Resolved auth per provider, and the providers left unavailable with their reason.

    Each unavailable provider is logged once here, at load, by name and variable name only.
    """
    environ = os.environ if environ is None else environ
    prefixes = snapshot.settings.env_prefixes
    resolved: dict[str, Secrets] = {}
    unavailable: dict[str, str] = {}
    for name, provider in snapshot.providers.items():
        result = resolve_provider(provider, environ, prefixes)
        if isinstance(result, str):
            unavailable[name] = result
            refs = sorted({r for v in provider.auth.values() for r in references(v)})
            log.warning("provider %s is unavailable (%s): check %s", name, result, ", ".join(refs))
        else:
            resolved[name] = result
    return resolved, unavailable
