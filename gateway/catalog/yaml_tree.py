"""One YAML file's bytes to plain values with the position of every node, refusing what a
catalog must not contain (unknown tags, alias bombs, runaway nesting, non-scalar keys)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from gateway.catalog.document import Path as NodePath
from gateway.catalog.yaml_aliases import AliasBudget, Refusal
from gateway.diagnostics import ERROR, Diagnostic

#: Nesting deeper than this is no catalog anyone writes by hand.
MAX_DEPTH = 64
#: Files with fewer flow brackets than this cannot nest deep enough to hurt the C composer.
_FLOW_OPENERS_CHECKED = 2_000
IMPLICIT = "\0implicit"  # what our resolver tags every untagged node with
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
    """The C parser and composer, with type resolution left to `Builder`.

    PyYAML's Python resolver costs more than parsing itself on a large catalog; tagging
    nodes as implicit here and resolving only plain scalars that can be non-strings later
    gives the same values as safe_load at a fraction of the time.
    """

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return IMPLICIT

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # path resolvers are not used

    def ascend_resolver(self) -> None:
        pass


_NESTING_REFUSED = "maximum nesting depth"


def too_deep(data: bytes) -> bool:
    """Whether collections nest deeper than MAX_DEPTH, found without building anything.

    The C composer recurses once per level and overflows the C stack somewhere past 20,000
    levels, which a 2 MB file of `[` reaches; block nesting cannot get near that within the
    size limit (each level costs a line of growing indentation), so only files with many
    flow brackets are checked, with the parser's events, which keep their stack on the heap.
    """
    if data.count(b"[") + data.count(b"{") <= _FLOW_OPENERS_CHECKED:
        return False
    depth = 0
    try:
        for event in yaml.parse(data, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return True
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        # libyaml 0.2.6 and later refuse such nesting themselves (from 1,000 levels on);
        # any other syntax error is reported by composing, with its place.
        return _NESTING_REFUSED in str(exc)
    return False


def byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def compose(data: bytes) -> Iterator[Node | Diagnostic]:
    """The file's root nodes, then a diagnostic if the YAML breaks off somewhere."""
    try:
        yield from yaml.compose_all(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if _NESTING_REFUSED in problem:
            yield Diagnostic(
                "",
                line,
                col,
                "MY109",
                ERROR,
                f"nesting deeper than {MAX_DEPTH} levels",
                "flatten the document",
            )
            return
        yield Diagnostic(
            "",
            line,
            col,
            "MY102",
            ERROR,
            f"YAML syntax error: {problem}",
            "fix the YAML at this place (indentation, quotes, brackets)",
        )
    except yaml.reader.ReaderError as exc:
        line, col = byte_position(data, exc.position)
        yield Diagnostic(
            "",
            line,
            col,
            "MY101",
            ERROR,
            f"character #x{exc.character:04x} is not allowed in YAML",
            "remove the control character or write it as an escape in a double-quoted string",
        )


class Builder(AliasBudget):
    """Turns one document's node tree into plain values and positions, checking as it goes."""

    def __init__(self, file: str, diagnostics: list[Diagnostic], *, aliases: bool = True) -> None:
        """`aliases` False: the file has no alias (`*`), so scalars need no watching."""
        self.file = file
        self.diagnostics = diagnostics
        self.positions: dict[NodePath, tuple[int, int]] = {}
        self.built: set[int] = set()  # nodes already built once: met again, they are aliases
        self.active: set[int] = set()  # nodes being built: met again, the alias is recursive
        self.sizes: dict[int, int] = {}
        self.expanded = 0
        self.aliases = aliases
        self.scalars: set[int] = set()  # scalar nodes met, when the file has aliases
        self.characters = 0

    def build(self, node: Node, path: NodePath, depth: int = 0, mark: Any = None) -> Any:
        """The value of `node`; `mark` is where the node is used (its key, for values)."""
        if mark is None:
            mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if node.__class__ is ScalarNode:
            if self.aliases:
                self._count_scalar(node, mark)
            return _scalar(node)
        # Aliased collections are bounded in nodes here; aliased text, in characters above.
        key = id(node)
        if key in self.built or key in self.active:
            self._count_alias(node, mark)
        if depth >= MAX_DEPTH:
            raise Refusal(
                "MY109",
                node.start_mark,
                f"nesting deeper than {MAX_DEPTH} levels",
                "flatten the document",
            )
        self.active.add(key)
        if node.__class__ is MappingNode:
            self._check_tag(node, "map")
            value: Any = self._mapping(node, path, depth + 1)
        else:
            self._check_tag(node, "seq")
            if self.aliases:  # an alias in a list is reported where the list is used
                value = [
                    self.build(item, (*path, i), depth + 1, mark if self._repeat(item) else None)
                    for i, item in enumerate(node.value)
                ]
            else:
                value = [
                    self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)
                ]
        self.active.discard(key)
        self.built.add(key)
        return value

    def _mapping(self, node: MappingNode, path: NodePath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        positions = self.positions
        merges: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if (
                key_node.__class__ is ScalarNode
                and key_node.tag == IMPLICIT
                and key_node.value != "<<"
            ):  # the common case, kept inline for speed
                key = key_node.value
            else:
                key = self._key(key_node)
            mark = key_node.start_mark
            if key is _MERGE:
                merges.append((key_node, value_node))
            elif key in result:
                self._duplicate(key, key_node, positions[(*path, key)])
            elif value_node.__class__ is ScalarNode:
                positions[(*path, key)] = (mark.line + 1, mark.column + 1)
                if self.aliases:
                    self._count_scalar(value_node, mark)
                value = value_node.value
                if value_node.tag == IMPLICIT and (
                    value_node.style or value[:1] not in _MAYBE_TYPED
                ):
                    result[key] = value
                else:
                    result[key] = _scalar(value_node)
            else:
                result[key] = self.build(value_node, (*path, key), depth, mark)
        for merge_key, merge in merges:
            self._merge(merge_key, merge, path, depth, result)
        return result

    def _key(self, node: Node) -> Any:
        """Keys are kept as written, so data stays JSON-shaped (`on:` is the key 'on')."""
        if node.__class__ is not ScalarNode:
            raise Refusal(
                "MY110", node.start_mark, "a mapping key must be a plain scalar", "use a string key"
            )
        value = node.value
        if node.tag != IMPLICIT:
            self._check_tag(node, "str")
        elif value == "<<" and not node.style:
            return _MERGE
        return value

    def _merge(
        self, merge_key: Node, node: Node, path: NodePath, depth: int, result: dict[str, Any]
    ) -> None:
        """`<<: *defaults` (or a list of them) adds the keys not written out, like safe_load."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        own_positions, cut = self.positions, len(path)
        for source in sources:
            if not isinstance(source, MappingNode):
                raise Refusal(
                    "MY110",
                    merge_key.start_mark,
                    "`<<` merges only mappings",
                    "point `<<` at an anchored mapping (or a list of them)",
                )
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
        self.diagnostics.append(
            Diagnostic(
                self.file,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                "MY103",
                ERROR,
                f"duplicate key '{key}' (first defined on line {first[0]})",
                "remove one of the two; YAML parsers disagree on which one wins",
            )
        )

    def _check_tag(self, node: Node, allowed: str) -> None:
        tag = node.tag
        if tag != IMPLICIT and tag != _TAG + allowed and tag != "!":
            raise Refusal(
                "MY106",
                node.start_mark,
                f"YAML tag '{tag}' is not allowed",
                "remove the tag; catalogs use plain YAML values only",
            )


_EXPLICIT = {"str", "int", "float", "bool", "null", "timestamp"}


def _scalar(node: ScalarNode) -> Any:
    """A scalar's value as safe_load gives it, except that timestamps stay strings."""
    value, tag = node.value, node.tag
    if tag == IMPLICIT:
        if node.style or value[:1] not in _MAYBE_TYPED:  # quoted or plainly text
            return value
        return _plain(value)
    elif tag.startswith(_TAG) and tag[len(_TAG) :] in _EXPLICIT:
        tag = tag[len(_TAG) :]
    elif tag == "!":
        return value
    else:
        raise Refusal(
            "MY106",
            node.start_mark,
            f"YAML tag '{tag}' is not allowed",
            "remove the tag; catalogs use plain YAML values only",
        )
    try:
        return _typed(value, tag)
    except (KeyError, ValueError) as exc:
        raise Refusal(
            "MY106",
            node.start_mark,
            f"value does not fit its tag '!!{tag}'",
            "remove the tag or fix the value",
        ) from exc


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


@lru_cache(maxsize=4096)
def _plain(value: str) -> Any:
    """An untagged, unquoted scalar: YAML 1.1 types by the same patterns as safe_load."""
    if not value:
        return None
    for tag, regexp in _RESOLVERS.get(value[0], ()):
        if regexp.match(value):
            return _typed(value, tag[len(_TAG) :])
    return value
