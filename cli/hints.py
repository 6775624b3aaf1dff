"""What to do about the mistakes newcomers make first, said the same way by every command."""

from __future__ import annotations

from pathlib import Path


def no_catalog(path: Path, option: str = "--catalog PATH") -> str:
    """The error for a catalog (or snapshot) path that is not there."""
    if path == Path("catalog"):
        return (
            f"error: {path} does not exist here ({Path.cwd()}). modelyard reads ./catalog "
            f"by default: run it inside the modelyard checkout (cd modelyard), or name "
            f"the catalog with {option}."
        )
    return f"error: {path} does not exist; name an existing catalog with {option}."
