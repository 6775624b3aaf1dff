"""What a file that failed to load meant to define, read from its text line by line.

When a file breaks off (a YAML syntax error, a refused tag, a document without a name),
the documents it held are missing from the catalog, and every reference to them would be
reported again as an unknown model or provider in other files, ahead of the one real
mistake. The loader reads the broken file's top-level `kind:`, `name:` and `model:` lines
instead, so those references are known to point into a broken file and are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# A key at (or near: the mistake may be the indentation itself) the start of a line.
_FIELD = re.compile(r"^[ \t]{0,2}(kind|name|model)[ \t]*:[ \t]*(.*?)[ \t]*$")
_SEPARATOR = re.compile(r"^(---|\.\.\.)([ \t].*)?$")
_COMMENT = re.compile(r"[ \t]+#.*$")


@dataclass(frozen=True, slots=True)
class Lost:
    """A document of a broken file. `name` None: the file lost something unnamed, so any
    reference may point to it."""

    file: str
    kind: str | None
    name: str | None
    model: str | None = None  # for a channel: the model it serves


def salvage(file: str, text: str, loaded: Iterable[tuple[str, str]]) -> list[Lost]:
    """The documents of `text` that are not among `loaded` (kind, name) pairs."""
    have = set(loaded)
    lost: list[Lost] = []
    for fields in _chunks(text):
        kind, name = fields.get("kind"), fields.get("name")
        if kind is not None and name is not None and (kind, name) in have:
            continue
        if kind is None and name is None and not fields.get("any"):
            continue  # comments and blank space between separators
        lost.append(Lost(file, kind, name, fields.get("model")))
    return lost


def _chunks(text: str) -> Iterable[dict[str, str]]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            yield fields
            fields = {}
            continue
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            fields.setdefault("any", "1")
        match = _FIELD.match(line)
        if match and match.group(1) not in fields:
            value = _scalar(match.group(2))
            if value:
                fields[match.group(1)] = value
    yield fields


def _scalar(raw: str) -> str:
    """A plain or quoted one-line scalar as YAML would read it (near enough for names)."""
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    return _COMMENT.sub("", raw).strip()
