"""A catalog document as loaded: its plain data plus where every node of it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: A path into a document's data: keys and list indexes, e.g. ("auth", "token").
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document with `kind` and `name`.

    `data` holds plain Python values (dict, list, str, int, float, bool, None) exactly as
    written. `positions` maps every node's path to its (line, col), 1-based, so any later
    stage can point at the exact place of a problem; `file` is the path as shown to users
    (relative to the current directory when the catalog is under it).
    """

    kind: str
    name: str
    file: str
    line: int
    col: int
    data: Mapping[str, Any]
    positions: Mapping[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int, int]:
        """Line and column of the node at `path`, or of its nearest located ancestor."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.line, self.col
