"""What a review reports: findings in six classes, and the review of one pair of sides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.diagnostics import Diagnostic
from gateway.review.diff import EntityChange

if TYPE_CHECKING:  # impact builds on pricing, which makes findings
    from gateway.review.impact import ConsumerImpact

#: The change classes, in the order every output lists them.
CATEGORIES = ("breaking", "security", "routing", "pricing", "quota", "other")

#: Version of the JSON output; bumped only on an incompatible change of its shape.
JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a reviewer should see: its class, the entity it is about, a one-line message.

    `detail` holds class-specific, JSON-ready data (routing shares, price amounts, referrers,
    a text diff); every value in it is already masked.
    """

    category: str
    kind: str
    name: str
    message: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.category,
            "kind": self.kind,
            "name": self.name,
            "message": self.message,
            **self.detail,
        }


@dataclass(frozen=True, slots=True)
class Side:
    """How a side was named by the user, and the digest of its snapshot."""

    label: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class Review:
    """The classified difference between a base and a head snapshot."""

    base: Side
    head: Side
    changes: tuple[EntityChange, ...]
    findings: tuple[Finding, ...]
    impacts: tuple[ConsumerImpact, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()  # the head's validation warnings
    cost: Mapping[str, Any] | None = None  # monthly cost impact, see gateway.review.cost

    def of(self, category: str) -> list[Finding]:
        return [f for f in self.findings if f.category == category]

    def counts(self) -> dict[str, int]:
        return {c: len(self.of(c)) for c in CATEGORIES}

    def failing(self, fail_on: set[str]) -> list[str]:
        """The classes in `fail_on` ("any" meaning all) that have at least one finding."""
        wanted = set(CATEGORIES) if "any" in fail_on else fail_on
        return [c for c in CATEGORIES if c in wanted and self.of(c)]
