"""Resolving the `${ENV}` references of providers' auth when a snapshot is loaded."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from gateway.catalog.snapshot import Provider, Snapshot

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: What no secret holds: a value with one of these would be sent as a broken header (a
#: trailing newline is the usual mistake when a secret is made from a file).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: reason -> what the operator should do, without any value
ADVICE: Mapping[str, str] = {
    "missing_secret": "set",
    "secret_not_allowed": "rename to an allowed Settings.env_prefixes name",
    "secret_invalid": "remove the control characters (often a trailing newline) from",
}


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


def resolve_provider(
    provider: Provider, environ: Mapping[str, str], prefixes: tuple[str, ...]
) -> Secrets | str:
    """The resolved auth of `provider`, or the reason it cannot be resolved (no value in it)."""
    values: dict[str, str] = {}
    for field, raw in provider.auth.items():
        for name in references(raw):
            if prefixes and not name.startswith(prefixes):
                return "secret_not_allowed"
            value = environ.get(name)
            if not value:
                return "missing_secret"
            if _CONTROL.search(value):
                return "secret_invalid"
        values[field] = _REF.sub(lambda m: environ[m.group(1)], raw)
    return Secrets(values)


def explain(provider: Provider, reason: str) -> str:
    """A log line about an unavailable provider: its name and variable names, no value."""
    refs = sorted({r for v in provider.auth.values() for r in references(v)})
    return (
        f"provider {provider.name} is unavailable ({reason}): "
        f"{ADVICE.get(reason, 'check')} {', '.join(refs)}"
    )


def resolve_all(
    snapshot: Snapshot, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Secrets], dict[str, str]]:
    """Resolved auth per provider, and the providers left unavailable with their reason.

    Nothing is logged here: whoever loads the snapshot says it (once, see reload.Holder).
    """
    environ = os.environ if environ is None else environ
    prefixes = snapshot.settings.env_prefixes
    resolved: dict[str, Secrets] = {}
    unavailable: dict[str, str] = {}
    for name, provider in snapshot.providers.items():
        result = resolve_provider(provider, environ, prefixes)
        if isinstance(result, str):
            unavailable[name] = result
        else:
            resolved[name] = result
    return resolved, unavailable
