"""Read a catalog's YAML files into documents that remember the file, line and column of every node."""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from gateway.catalog.document import Document
from gateway.catalog.document import Path as NodePath
from gateway.diagnostics import ERROR, Diagnostic

#: Aliased nodes a document may expand in total: plenty for shared defaults, nothing for a bomb.
MAX_ALIAS_EXPANSION = 10_000
#: Nesting deeper than this is no catalog anyone writes by hand.
MAX_DEPTH = 64
CATALOG_SUFFIXES = (".yaml", ".yml")
#: Files with fewer flow brackets than this cannot nest deep enough to hurt the C composer.
_FLOW_OPENERS_CHECKED = 2_000

_IMPLICIT = "\0implicit"  # what our resolver tags every untagged node with
_TAG = "tag:yaml.org,2002:"
_MERGE = object()  # what `_key` returns for a YAML merge key `<<`
_BOOLS = SafeConstructor.bool_values
_CONSTRUCTOR = SafeConstructor()
# The YAML 1.1 implicit types safe_load knows, keyed by a scalar's first character.
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    first: [(tag, rx) for tag, rx in pairs if not tag.endswith(("merge", "value"))]
    for first, pairs in Resolver.yaml_implicit_resolvers.items()
    if first
}
_MAYBE_TYPED = frozenset(_RESOLVERS) | {""}
_DECIMAL = re.compile(r"[1-9][0-9]*|0")


class _Loader(yaml.CSafeLoader):
    """The C parser and composer, with type resolution left to `_Builder`.

    PyYAML's Python resolver costs more than parsing itself on a large catalog; tagging
    nodes as implicit here and resolving only plain scalars that can be non-strings later
    gives the same values as safe_load at a fraction of the time.
    """

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return _IMPLICIT

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # path resolvers are not used

    def ascend_resolver(self) -> None:
        pass


class _Refusal(Exception):
    """Stops building one document; becomes its diagnostic."""

    def __init__(self, code: str, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.mark, self.message, self.hint = code, mark, message, hint


def load_catalog(root: Path, *, max_file_bytes: int = 2_000_000
                 ) -> tuple[list[Document], list[Diagnostic]]:
    """Load every *.yaml / *.yml file under `root` (or `root` itself if it is a file).

    Returns the documents in file order and every problem found; a bad file or document
    never hides the others.
    """
    root = Path(root)
    diagnostics: list[Diagnostic] = []
    documents: list[Document] = []
    shown = _Shown()
    if not root.exists():
        diagnostics.append(Diagnostic(shown(root), 0, 0, "MY100", ERROR,
                                      "catalog not found",
                                      "give the catalog directory (or one YAML file) to read"))
        return documents, diagnostics
    with _gc_paused():
        for path in _catalog_files(root, shown, diagnostics):
            _load_file(path, shown(path), max_file_bytes, documents, diagnostics)
    return documents, diagnostics


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


def _check_link(path: Path, real_root: Path, shown: _Shown,
                diagnostics: list[Diagnostic]) -> Path | None:
    """The link's target if it stays inside the root; otherwise a diagnostic and None."""
    target = path.resolve()
    if target.exists() and target.is_relative_to(real_root):
        return target
    where = "outside the catalog root" if target.exists() else "to nothing"
    diagnostics.append(Diagnostic(
        shown(path), 1, 1, "MY108", ERROR, f"symlink leads {where}",
        "copy the file into the catalog, or point the link at a file inside the catalog"))
    return None


def _load_file(path: Path, file: str, max_file_bytes: int,
               documents: list[Document], diagnostics: list[Diagnostic]) -> None:
    """Append the file's documents and problems; stop at the first unreadable part."""
    def refuse(code: str, line: int, col: int, message: str, hint: str) -> None:
        diagnostics.append(Diagnostic(file, line, col, code, ERROR, message, hint))

    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            refuse("MY107", 1, 1, f"file is {size} bytes, over the limit of {max_file_bytes}",
                   "split the file into several smaller ones")
            return
        data = path.read_bytes()
    except OSError as exc:
        refuse("MY100", 0, 0, f"cannot read the file ({exc.strerror})",
               "check the file's permissions")
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        refuse("MY101", line, col, f"file is not valid UTF-8 (byte offset {exc.start})",
               "save the file as UTF-8")
        return
    if data.count(b"[") + data.count(b"{") > _FLOW_OPENERS_CHECKED and _too_deep(data):
        refuse("MY109", 1, 1, f"nesting deeper than {MAX_DEPTH} levels",
               "flatten the document")
        return
    for item in _documents(data):
        if isinstance(item, Diagnostic):
            refuse(item.code, item.line, item.col, item.message, item.hint)
        else:
            doc = _document(item, file, diagnostics)
            if doc is not None:
                documents.append(doc)


def _too_deep(data: bytes) -> bool:
    """Whether collections nest deeper than MAX_DEPTH, found without building anything.

    The C composer recurses once per level and overflows the C stack somewhere past 20,000
    levels, which a 2 MB file of `[` reaches; block nesting cannot get near that within the
    size limit (each level costs a line of growing indentation), so only files with many
    flow brackets are checked, with the parser's events, which keep their stack on the heap.
    """
    depth = 0
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return True
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return False  # composing reports the syntax error with its place
    return False


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _documents(data: bytes) -> Iterator[Node | Diagnostic]:
    """The file's root nodes, then a diagnostic if the YAML breaks off somewhere."""
    try:
        yield from yaml.compose_all(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        yield Diagnostic("", line, col, "MY102", ERROR, f"YAML syntax error: {problem}",
                         "fix the YAML at this place (indentation, quotes, brackets)")
    except yaml.reader.ReaderError as exc:
        line, col = _byte_position(data, exc.position)
        yield Diagnostic("", line, col, "MY101", ERROR,
                         f"character #x{exc.character:04x} is not allowed in YAML",
                         "remove the control character or write it as an escape in a "
                         "double-quoted string")


def _document(root: Node, file: str, diagnostics: list[Diagnostic]) -> Document | None:
    """Build one document, or report why it cannot be one; empty documents are skipped."""
    if isinstance(root, ScalarNode) and root.tag == _IMPLICIT and root.value == "" \
            and not root.style:
        return None
    builder = _Builder(file, diagnostics)
    try:
        data = builder.build(root, ())
    except _Refusal as refusal:
        mark = refusal.mark
        diagnostics.append(Diagnostic(file, mark.line + 1, mark.column + 1, refusal.code,
                                      ERROR, refusal.message, refusal.hint))
        return None
    line, col = root.start_mark.line + 1, root.start_mark.column + 1
    if not isinstance(data, dict):
        diagnostics.append(Diagnostic(
            file, line, col, "MY104", ERROR, "document is not a mapping",
            "write each document as `kind: ...`, `name: ...` and its fields"))
        return None
    for field in ("kind", "name"):
        if not isinstance(data.get(field), str):
            where = builder.positions.get((field,), (line, col))
            problem = "is not a string" if field in data else "is missing"
            diagnostics.append(Diagnostic(
                file, where[0], where[1], "MY105", ERROR, f"document '{field}' {problem}",
                f"every document needs a string `{field}:`"))
            return None
    return Document(data["kind"], data["name"], file, line, col, data, builder.positions)


class _Builder:
    """Turns one document's node tree into plain values and positions, checking as it goes."""

    def __init__(self, file: str, diagnostics: list[Diagnostic]) -> None:
        self.file = file
        self.diagnostics = diagnostics
        self.positions: dict[NodePath, tuple[int, int]] = {}
        self.built: set[int] = set()  # nodes already built once: met again, they are aliases
        self.active: set[int] = set()  # nodes being built: met again, the alias is recursive
        self.sizes: dict[int, int] = {}
        self.expanded = 0

    def build(self, node: Node, path: NodePath, depth: int = 0, mark: Any = None) -> Any:
        """The value of `node`; `mark` is where the node is used (its key, for values)."""
        if mark is None:
            mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if node.__class__ is ScalarNode:
            return _scalar(node)
        # Only collections can multiply through aliases; a scalar alias costs what it reads.
        key = id(node)
        if key in self.built or key in self.active:
            self._count_alias(node, mark)
        if depth >= MAX_DEPTH:
            raise _Refusal("MY109", node.start_mark, f"nesting deeper than {MAX_DEPTH} levels",
                           "flatten the document")
        self.active.add(key)
        if node.__class__ is MappingNode:
            self._check_tag(node, "map")
            value: Any = self._mapping(node, path, depth + 1)
        else:
            self._check_tag(node, "seq")
            value = [self.build(item, (*path, i), depth + 1)
                     for i, item in enumerate(node.value)]
        self.active.discard(key)
        self.built.add(key)
        return value

    def _mapping(self, node: MappingNode, path: NodePath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        positions = self.positions
        merges: list[Node] = []
        for key_node, value_node in node.value:
            key = self._key(key_node)
            mark = key_node.start_mark
            if key is _MERGE:
                merges.append(value_node)
            elif key in result:
                self._duplicate(key, key_node, positions[(*path, key)])
            elif value_node.__class__ is ScalarNode:  # the common case, kept inline for speed
                positions[(*path, key)] = (mark.line + 1, mark.column + 1)
                result[key] = _scalar(value_node)
            else:
                result[key] = self.build(value_node, (*path, key), depth, mark)
        for merge in merges:
            self._merge(merge, path, depth, result)
        return result

    def _key(self, node: Node) -> Any:
        """Keys are kept as written, so data stays JSON-shaped (`on:` is the key 'on')."""
        if node.__class__ is not ScalarNode:
            raise _Refusal("MY110", node.start_mark, "a mapping key must be a plain scalar",
                           "use a string key")
        value = node.value
        if node.tag != _IMPLICIT:
            self._check_tag(node, "str")
        elif value == "<<" and not node.style:
            return _MERGE
        return value

    def _merge(self, node: Node, path: NodePath, depth: int, result: dict[str, Any]) -> None:
        """`<<: *defaults` (or a list of them) adds the keys not written out, like safe_load."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        own_positions, cut = self.positions, len(path)
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _Refusal("MY110", source.start_mark, "`<<` merges only mappings",
                               "point `<<` at an anchored mapping (or a list of them)")
            self.positions = {}
            try:
                value = self.build(source, path, depth + 1)
            finally:
                merged_positions, self.positions = self.positions, own_positions
            added = {key for key in value if key not in result}
            for key in added:
                result[key] = value[key]
            for where, position in merged_positions.items():
                if len(where) > cut and where[cut] in added:
                    own_positions[where] = position

    def _duplicate(self, key: str, node: Node, first: tuple[int, int]) -> None:
        # The document is kept (first value wins) so later stages still check the rest.
        self.diagnostics.append(Diagnostic(
            self.file, node.start_mark.line + 1, node.start_mark.column + 1, "MY103", ERROR,
            f"duplicate key '{key}' (first defined on line {first[0]})",
            "remove one of the two; YAML parsers disagree on which one wins"))

    def _check_tag(self, node: Node, allowed: str) -> None:
        tag = node.tag
        if tag != _IMPLICIT and tag != _TAG + allowed and tag != "!":
            raise _Refusal("MY106", node.start_mark, f"YAML tag '{tag}' is not allowed",
                           "remove the tag; catalogs use plain YAML values only")

    def _count_alias(self, node: Node, mark: Any) -> None:
        if id(node) in self.active:
            raise _Refusal("MY111", mark, "alias refers to a node that contains it",
                           "remove the recursive alias")
        self.expanded += _size(node, self.sizes)
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise _Refusal("MY111", mark,
                           f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes",
                           "write the values out, or share fewer and smaller anchors")


def _size(node: Node, memo: dict[int, int]) -> int:
    """Nodes under `node` once every alias is expanded, without expanding any."""
    key = id(node)
    if key not in memo:
        if isinstance(node, MappingNode):
            memo[key] = 1 + sum(_size(v, memo) for _, v in node.value)
        elif isinstance(node, SequenceNode):
            memo[key] = 1 + sum(_size(v, memo) for v in node.value)
        else:
            memo[key] = 1
    return memo[key]


_EXPLICIT = {"str", "int", "float", "bool", "null", "timestamp"}


def _scalar(node: ScalarNode) -> Any:
    """A scalar's value as safe_load gives it, except that timestamps stay strings."""
    value, tag = node.value, node.tag
    if tag == _IMPLICIT:
        if node.style or value[:1] not in _MAYBE_TYPED:  # quoted or plainly text
            return value
        if not value:
            return None
        tag = _implicit_tag(value)
    elif tag.startswith(_TAG) and tag[len(_TAG):] in _EXPLICIT:
        tag = tag[len(_TAG):]
    elif tag == "!":
        return value
    else:
        raise _Refusal("MY106", node.start_mark, f"YAML tag '{tag}' is not allowed",
                       "remove the tag; catalogs use plain YAML values only")
    try:
        return _typed(value, tag)
    except (KeyError, ValueError) as exc:
        raise _Refusal("MY106", node.start_mark, f"value does not fit its tag '!!{tag}'",
                       "remove the tag or fix the value") from exc


def _typed(value: str, tag: str) -> Any:
    if tag == "str" or tag == "timestamp":
        return value
    if tag == "int":
        if _DECIMAL.fullmatch(value):
            return int(value)
        return _CONSTRUCTOR.construct_yaml_int(ScalarNode(_TAG + "int", value))
    if tag == "float":
        return _CONSTRUCTOR.construct_yaml_float(ScalarNode(_TAG + "float", value))
    if tag == "bool":
        return _BOOLS[value.lower()]
    return None  # null


def _implicit_tag(value: str) -> str:
    for tag, regexp in _RESOLVERS.get(value[0], ()):
        if regexp.match(value):
            return tag[len(_TAG):]
    return "str"
