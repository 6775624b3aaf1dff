"""Secret hygiene of a catalog: no literal secrets, no provider keys, only allowed ${ENV} names.

These checks run over every loaded document, schema-valid or not: a key pasted into a
broken document is still a leaked key. Messages say where and what kind, never the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from gateway.catalog.document import Document, Path
from gateway.catalog.link import diagnostic
from gateway.diagnostics import Diagnostic

#: auth type -> the fields of it that hold secrets
SECRET_FIELDS: Mapping[str, tuple[str, ...]] = {
    "bearer": ("token",),
    "basic": ("password",),
    "header": ("value",),
    "sigv4": ("access_key_id", "secret_access_key", "session_token"),
}
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: provider key shapes, most specific first; a match must also hold a digit (real keys do)
KEY_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", re.compile(r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}")),
    (
        "an OpenAI API key",
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ),
    ("an AWS access key id", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])")),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])")),
)
_KEY_PREFIXES = ("sk-", "AKIA", "AIza")
_SUSPECT = re.compile("|".join(_KEY_PREFIXES))
HASH_HINT = 'store only the digest of the key: printf %s "$KEY" | sha256sum'


def key_kind(text: str) -> str | None:
    """What kind of provider key `text` contains, if it contains one."""
    if not any(p in text for p in _KEY_PREFIXES):
        return None
    for kind, pattern in KEY_SHAPES:
        if any(any(c.isdigit() for c in m.group()) for m in pattern.finditer(text)):
            return kind
    return None


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str, bool]]:
    """Every string in a document's data: (path, text, whether it is a mapping key)."""
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str):
                yield (*path, k), k, True
            yield from _strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))


def _shown(path: Path) -> str:
    """A path for messages, with any part that is itself a key masked."""
    parts = ["<redacted>" if isinstance(p, str) and key_kind(p) else str(p) for p in path]
    return ".".join(parts) or "(document)"


def _label(doc: Document) -> str:
    return f"{doc.kind} <redacted>" if key_kind(doc.name) else f"{doc.kind} {doc.name!r}"


def provider_keys(doc: Document) -> Iterable[Diagnostic]:
    """MY502: any string (or mapping key) shaped like a provider API key."""
    for path, text, is_key in _strings(doc.data, ()):
        kind = key_kind(text)
        if kind:
            where = f"a mapping key under {_shown(path[:-1])}" if is_key else _shown(path)
            yield diagnostic(
                doc,
                path,
                "MY502",
                f"{_label(doc)}: {where} holds what looks like {kind}",
                "remove it from the catalog, revoke the key (it is in git "
                "history now) and reference a new one as ${ENV_VAR} in a Provider's auth",
            )


def auth_references(doc: Document) -> Iterable[Diagnostic]:
    """MY501: an auth secret that is not exactly one ${ENV_VAR} reference."""
    auth = doc.data.get("auth") if doc.kind == "Provider" else None
    if not isinstance(auth, Mapping) or not isinstance(auth.get("type"), str):
        return
    for field in SECRET_FIELDS.get(auth["type"], ()):
        value = auth.get(field)
        if field not in auth or (isinstance(value, str) and ENV_REF.fullmatch(value)):
            continue
        if isinstance(value, str) and key_kind(value):
            continue  # MY502 already says more
        yield diagnostic(
            doc,
            ("auth", field),
            "MY501",
            f"{_label(doc)}: auth.{field} is not a ${{ENV_VAR}} reference",
            f"set the secret in the proxy's environment and write {field}: ${{SOME_ENV_VAR}}",
        )


def env_prefixes(doc: Document, prefixes: Sequence[str]) -> Iterable[Diagnostic]:
    """MY503: an ${ENV} reference to a variable outside the allowed prefixes."""
    for path, text, _ in _strings(doc.data, ()):
        if "${" not in text:
            continue
        for name in ENV_REF.findall(text):
            if not name.startswith(tuple(prefixes)):
                yield diagnostic(
                    doc,
                    path,
                    "MY503",
                    f"${{{name}}} is outside Settings.env_prefixes ({', '.join(prefixes)})",
                    "rename the variable to an allowed prefix, or add its prefix "
                    "to Settings.env_prefixes",
                )


def consumer_digests(doc: Document) -> Iterable[Diagnostic]:
    """MY504: a consumer key that is not a lowercase sha256 hex digest (maybe a plain key)."""
    keys = doc.data.get("key_sha256") if doc.kind == "Consumer" else None
    if not isinstance(keys, list):
        return
    for i, value in enumerate(keys):
        if not (isinstance(value, str) and SHA256_HEX.fullmatch(value)):
            yield diagnostic(
                doc,
                ("key_sha256", i),
                "MY504",
                f"{_label(doc)}: key_sha256[{i}] is not a lowercase sha256 hex digest",
                HASH_HINT,
            )


def scan_secrets(docs: Iterable[Document], prefixes: Sequence[str] = ()) -> list[Diagnostic]:
    """Every secret finding over all documents; `prefixes` from Settings.env_prefixes."""
    out: list[Diagnostic] = []
    for doc in docs:
        # One C-speed dump per document finds the few worth walking string by string.
        blob = json.dumps(doc.data, ensure_ascii=False, default=str)
        if _SUSPECT.search(blob):
            out.extend(provider_keys(doc))
        if prefixes and "${" in blob:
            out.extend(env_prefixes(doc, prefixes))
        out.extend(auth_references(doc))
        out.extend(consumer_digests(doc))
    return out
