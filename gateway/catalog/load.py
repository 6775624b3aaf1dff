"""Read a catalog's YAML files into documents that remember the file, line and column of every node."""

from __future__ import annotations

import dataclasses
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node, ScalarNode

from gateway.catalog.document import Document
from gateway.catalog.salvage import Lost, salvage
from gateway.catalog.yaml_aliases import Refusal
from gateway.catalog.yaml_tree import (
    IMPLICIT,
    MAX_DEPTH,
    Builder,
    byte_position,
    compose,
    too_deep,
)
from gateway.diagnostics import ERROR, Diagnostic

CATALOG_SUFFIXES = (".yaml", ".yml")
#: Codes after which some or all of a file's documents are missing from the catalog.
LOSING_CODES = frozenset(
    {
        "MY100",
        "MY101",
        "MY102",
        "MY104",
        "MY105",
        "MY106",
        "MY107",
        "MY108",
        "MY109",
        "MY110",
        "MY111",
        "MY112",
    }
)


@dataclass(slots=True)
class Loaded:
    """Documents in file order, every problem found, and what broken files meant to define."""

    documents: list[Document] = dataclasses.field(default_factory=list)
    diagnostics: list[Diagnostic] = dataclasses.field(default_factory=list)
    lost: list[Lost] = dataclasses.field(default_factory=list)


def load_catalog(
    root: Path, *, max_file_bytes: int = 2_000_000
) -> tuple[list[Document], list[Diagnostic]]:
    """Load every *.yaml / *.yml file under `root` (or `root` itself if it is a file).

    Returns the documents in file order and every problem found; a bad file or document
    never hides the others.
    """
    loaded = read_catalog(root, max_file_bytes=max_file_bytes)
    return loaded.documents, loaded.diagnostics


def read_catalog(root: Path, *, max_file_bytes: int = 2_000_000) -> Loaded:
    """`load_catalog`, also naming the documents that files which failed to load held."""
    root = Path(root)
    out = Loaded()
    shown = _Shown()
    if not root.exists():
        out.diagnostics.append(
            Diagnostic(
                shown(root),
                0,
                0,
                "MY100",
                ERROR,
                "catalog not found",
                "give the catalog directory (or one YAML file) to read",
            )
        )
        return out
    with _gc_paused():
        for path in _catalog_files(root, shown, out.diagnostics):
            file, before, first_doc = shown(path), len(out.diagnostics), len(out.documents)
            _load_file(path, file, max_file_bytes, out.documents, out.diagnostics)
            if any(d.code in LOSING_CODES for d in out.diagnostics[before:]):
                out.lost.extend(_salvaged(path, file, out.documents[first_doc:], max_file_bytes))
        out.lost.extend(Lost(d.file, None, None) for d in out.diagnostics if d.code == "MY108")
    return out


def _salvaged(path: Path, file: str, loaded: list[Document], max_file_bytes: int) -> list[Lost]:
    try:
        if path.stat().st_size > max_file_bytes:
            return [Lost(file, None, None)]
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return [Lost(file, None, None)]
    return salvage(file, text, ((d.kind, d.name) for d in loaded)) or [Lost(file, None, None)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading makes millions of objects that all stay alive and form no cycles; collecting
    while they pile up cost a fifth of the load time on a large catalog."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Shown:
    """File names as users see them: relative to the current directory when under it."""

    def __init__(self) -> None:
        self.cwd = Path.cwd()

    def __call__(self, path: Path) -> str:
        path = Path(os.path.abspath(path))
        try:
            return path.relative_to(self.cwd).as_posix()
        except ValueError:
            return str(path)


def _catalog_files(root: Path, shown: _Shown, diagnostics: list[Diagnostic]) -> list[Path]:
    """Catalog files under root in a stable order; symlinks may not lead outside the root."""
    if root.is_file():
        return [root]
    real_root = root.resolve()
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in list(dirnames):
            path = Path(dirpath, name)
            if path.is_symlink():
                # Targets inside the root are read at their real place, so never twice.
                dirnames.remove(name)
                _check_link(path, real_root, shown, diagnostics)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if not name.endswith(CATALOG_SUFFIXES):
                continue
            if path.is_symlink():
                target = _check_link(path, real_root, shown, diagnostics)
                if target is None or target.name.endswith(CATALOG_SUFFIXES):
                    continue
            files.append(path)
    return files


def _check_link(
    path: Path, real_root: Path, shown: _Shown, diagnostics: list[Diagnostic]
) -> Path | None:
    """The link's target if it stays inside the root; otherwise a diagnostic and None."""
    target = path.resolve()
    if target.exists() and target.is_relative_to(real_root):
        return target
    where = "outside the catalog root" if target.exists() else "to nothing"
    diagnostics.append(
        Diagnostic(
            shown(path),
            1,
            1,
            "MY108",
            ERROR,
            f"symlink leads {where}",
            "copy the file into the catalog, or point the link at a file inside the catalog",
        )
    )
    return None


def _load_file(
    path: Path,
    file: str,
    max_file_bytes: int,
    documents: list[Document],
    diagnostics: list[Diagnostic],
) -> None:
    """Append the file's documents and problems; stop at the first unreadable part."""

    def refuse(code: str, line: int, col: int, message: str, hint: str) -> None:
        diagnostics.append(Diagnostic(file, line, col, code, ERROR, message, hint))

    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            refuse(
                "MY107",
                1,
                1,
                f"file is {size} bytes, over the limit of {max_file_bytes}",
                "split the file into several smaller ones",
            )
            return
        data = path.read_bytes()
    except OSError as exc:
        refuse(
            "MY100", 0, 0, f"cannot read the file ({exc.strerror})", "check the file's permissions"
        )
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = byte_position(data, exc.start)
        refuse(
            "MY101",
            line,
            col,
            f"file is not valid UTF-8 (byte offset {exc.start})",
            "save the file as UTF-8",
        )
        return
    if too_deep(data):
        refuse("MY109", 1, 1, f"nesting deeper than {MAX_DEPTH} levels", "flatten the document")
        return
    aliases = b"*" in data  # without one, no node can be met twice
    for item in compose(data):
        if isinstance(item, Diagnostic):
            refuse(item.code, item.line, item.col, item.message, item.hint)
        else:
            doc = _document(item, file, diagnostics, aliases)
            if doc is not None:
                documents.append(doc)


def _document(
    root: Node, file: str, diagnostics: list[Diagnostic], aliases: bool = True
) -> Document | None:
    """Build one document, or report why it cannot be one; empty documents are skipped."""
    if (
        isinstance(root, ScalarNode)
        and root.tag == IMPLICIT
        and root.value == ""
        and not root.style
    ):
        return None
    builder = Builder(file, diagnostics, aliases=aliases)
    try:
        data = builder.build(root, ())
    except Refusal as refusal:
        mark = refusal.mark
        diagnostics.append(
            Diagnostic(
                file,
                mark.line + 1,
                mark.column + 1,
                refusal.code,
                ERROR,
                refusal.message,
                refusal.hint,
            )
        )
        return None
    line, col = root.start_mark.line + 1, root.start_mark.column + 1
    if not isinstance(data, dict):
        diagnostics.append(
            Diagnostic(
                file,
                line,
                col,
                "MY104",
                ERROR,
                "document is not a mapping",
                "write each document as `kind: ...`, `name: ...` and its fields",
            )
        )
        return None
    for field in ("kind", "name"):
        if not isinstance(data.get(field), str):
            where = builder.positions.get((field,), (line, col))
            problem = "is not a string" if field in data else "is missing"
            diagnostics.append(
                Diagnostic(
                    file,
                    where[0],
                    where[1],
                    "MY105",
                    ERROR,
                    f"document '{field}' {problem}",
                    f"every document needs a string `{field}:`",
                )
            )
            return None
    return Document(data["kind"], data["name"], file, line, col, data, builder.positions)
