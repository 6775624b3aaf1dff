"""Unified text diffs of prompts and descriptions, wrapped so they read without side-scrolling."""

from __future__ import annotations

import difflib
import textwrap

WIDTH = 100


def _lines(text: str | None) -> list[str]:
    if not text:
        return []
    out: list[str] = []
    for line in text.splitlines():
        out.extend(textwrap.wrap(line, WIDTH, break_long_words=True) or [""])
    return out


def text_diff(before: str | None, after: str | None) -> str:
    """A unified diff of two texts (no file header), each wrapped at WIDTH columns first."""
    lines = difflib.unified_diff(_lines(before), _lines(after), "before", "after", n=2, lineterm="")
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))
