"""The budget aliases spend in one YAML document (the nodes they expand to, the text they
repeat), and the `Refusal` that stops a document which overspends it or breaks a rule."""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: Aliased nodes a document may expand in total: plenty for shared defaults, nothing for a bomb.
MAX_ALIAS_EXPANSION = 10_000
#: Characters of scalars that aliases may repeat in one document: a few long shared texts,
#: not a 100,000-character string repeated ten thousand times (a gigabyte once compiled).
MAX_ALIAS_CHARACTERS = 1_000_000


class Refusal(Exception):
    """Stops building one document; becomes its diagnostic."""

    def __init__(self, code: str, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.mark, self.message, self.hint = code, mark, message, hint


class AliasBudget:
    """The alias accounting of `yaml_tree.Builder`, which sets these attributes."""

    built: set[int]  # nodes already built once: met again, they are aliases
    active: set[int]  # nodes being built: met again, the alias is recursive
    sizes: dict[int, int]
    expanded: int
    scalars: set[int]  # scalar nodes met, when the file has aliases
    characters: int

    def _count_alias(self, node: Node, mark: Any) -> None:
        if id(node) in self.active:
            raise Refusal(
                "MY111",
                mark,
                "alias refers to a node that contains it",
                "remove the recursive alias",
            )
        self.expanded += _size(node, self.sizes)
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise Refusal(
                "MY111",
                mark,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes",
                "write the values out, or share fewer and smaller anchors",
            )

    def _repeat(self, node: Node) -> bool:
        key = id(node)
        return key in self.scalars or key in self.built

    def _count_scalar(self, node: ScalarNode, mark: Any) -> None:
        """A scalar met again is an alias (or inside one): the text it repeats counts
        against the budget, as it would in the compiled snapshot."""
        key = id(node)
        if key in self.scalars:
            self._add_characters(len(node.value), mark)
        else:
            self.scalars.add(key)

    def _add_characters(self, characters: int, mark: Any) -> None:
        self.characters += characters
        if self.characters > MAX_ALIAS_CHARACTERS:
            raise Refusal(
                "MY112",
                mark,
                f"aliases repeat more than {MAX_ALIAS_CHARACTERS:,} characters of text",
                "write the text out once, or share shorter anchors",
            )


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
