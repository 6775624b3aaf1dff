"""Diagnostics are data: every problem found in a catalog, with where it is and what to do."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"
#: Worth a look, never a failure, not even under --strict (e.g. an upstream on loopback).
NOTICE = "notice"


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """One finding. Ordered by file, line, column, code so output is stable."""

    file: str  # path relative to the catalog root's parent, as the user typed it
    line: int  # 1-based; 0 when the finding is about the catalog as a whole
    col: int  # 1-based
    code: str  # stable, e.g. "MY201"; listed in docs/diagnostics.md
    severity: str  # ERROR or WARNING
    message: str
    hint: str = ""

    def text(self) -> str:
        hint = f" — {self.hint}" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}{hint}"

    def github(self) -> str:
        """A GitHub Actions workflow command, so the finding shows inline on the pull request."""
        level = self.severity if self.severity in (ERROR, NOTICE) else "warning"
        msg = f"[{self.code}] {self.message}" + (f" — {self.hint}" if self.hint else "")
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return (
            f"::{level} file={self.file},line={self.line},col={self.col},title={self.code}::{msg}"
        )


def ordered(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Files that could not be read (MY1xx) first: what follows may stem from them; then by
    file, line, column and code."""
    return sorted(diagnostics, key=lambda d: (not d.code.startswith("MY1"), d))


def render(diagnostics: Iterable[Diagnostic], fmt: str) -> str:
    """Render ordered diagnostics as text, json or github annotations."""
    items = ordered(diagnostics)
    if fmt == "json":
        return json.dumps([asdict(d) for d in items], indent=2)
    if fmt == "github":
        return "\n".join(d.github() for d in items)
    return "\n".join(d.text() for d in items)


def has_errors(diagnostics: Iterable[Diagnostic], strict: bool = False) -> bool:
    """Whether any finding is an error, or a warning under `strict`; notices never count."""
    return any(d.severity == ERROR or (strict and d.severity == WARNING) for d in diagnostics)
