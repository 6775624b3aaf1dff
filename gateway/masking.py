"""What a credential looks like, and what stands in its place: shared by the diff (review)
and by what the proxy shows of upstream errors (usage.redact), so neither imports the other."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# Well-known credential shapes, and long mixed-case alphanumeric runs that read as random keys.
_KEY_PREFIXES = re.compile(
    r"^(sk|pk|rk)[-_]\S{8,}$|^AKIA[0-9A-Z]{12,}$|^gh[pousr]_\S{16,}$|^xox[abpr]-\S+$|^AIza\S{20,}$"
)
_RANDOM_RUN = re.compile(r"^[A-Za-z0-9+/=_-]{32,}$")


def looks_like_key(value: Any) -> bool:
    """Whether a value reads like a credential (a bare API key or token)."""
    if not isinstance(value, str):
        return False
    if _KEY_PREFIXES.match(value):
        return True
    return bool(_RANDOM_RUN.match(value)) and (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
