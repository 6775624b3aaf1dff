"""A real headless Chromium (Debian's `chromium`, driven by Playwright) for the page tests.

Browser tests skip only when no Chromium executable is installed; `.ci/run` installs it.
Set MODELYARD_SCREENSHOTS=DIR to have the tests save the screenshots docs/ shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def chromium_path() -> str | None:
    """The Chromium executable: MODELYARD_CHROMIUM, else `chromium` on the PATH."""
    found = (
        os.environ.get("MODELYARD_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (`apt-get install -y chromium`; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def screenshot(page: Any, name: str) -> None:
    """Save the page as DIR/NAME.png when MODELYARD_SCREENSHOTS=DIR is set."""
    folder = os.environ.get("MODELYARD_SCREENSHOTS")
    if folder:
        target = Path(folder)
        if not target.is_absolute():
            target = REPO / target
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"))


def price_map() -> Path | None:
    """LiteLLM's price map from the shared data beside the checkout, if it is there."""
    for candidate in (
        os.environ.get("MODELYARD_PRICE_MAP"),
        REPO.parent / "shared" / "data" / "litellm_model_prices.json",
        REPO.parent.parent / "shared" / "data" / "litellm_model_prices.json",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
