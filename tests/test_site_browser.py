"""The catalog site in a real headless Chromium, opened from file://: search, filters,
keyboard, a model page's channels and shares, and search speed on a 4,000-model list."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Snapshot
from gateway.proxy.plan import plan_route
from gateway.site import build_site
from gateway.site.list_page import search_text
from gateway.site.view import site_view
from tests.browser_support import REPO, browser, price_map, screenshot

__all__ = ["browser"]  # the fixture, imported for pytest

SEARCH_BUDGET_MS = 100


@pytest.fixture(scope="module")
def bundled() -> Snapshot:
    result = build(REPO / "catalog")
    assert result.snapshot is not None
    return Snapshot.from_dict(result.snapshot)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, bundled: Snapshot) -> Path:
    root = tmp_path_factory.mktemp("site")
    build_site(bundled, root)
    return root


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield context.new_page()
    finally:
        context.close()


def shown(page: Any) -> list[str]:
    """Model names in the list, top to bottom, as the reader sees them."""
    page.wait_for_selector("html[data-ready]")
    return page.eval_on_selector_all("#models tbody tr", "rows => rows.map(r => r.dataset.name)")


def test_search_narrows_the_list_to_matching_models(
    page: Any, site: Path, bundled: Snapshot
) -> None:
    page.goto((site / "index.html").as_uri())
    everything = shown(page)
    assert len(everything) == len(site_view(bundled).models)
    page.fill("#search", "claude")
    narrowed = shown(page)
    expected = [v.model.name for v in site_view(bundled).models if "claude" in search_text(v)]
    assert narrowed == expected and 0 < len(narrowed) < len(everything)
    assert page.inner_text("#count") == f"{len(expected)} of {len(everything)} models"
    page.fill("#search", "embedding google")  # every word must match
    assert shown(page) == ["gemini-embedding-001"]
    screenshot_list(page)


def screenshot_list(page: Any) -> None:
    page.fill("#search", "")
    page.select_option("#f-type", "chat")
    screenshot(page, "site-models")


def test_a_filter_combination_gives_the_expected_models(page: Any, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    page.select_option("#f-type", "chat")
    page.select_option("#f-vendor", "Anthropic")
    page.select_option("#f-capability", "reasoning")
    assert shown(page) == ["claude-sonnet-4-5", "claude-haiku-4-5", "research-llm"]
    page.select_option("#f-visibility", "public")
    assert shown(page) == ["claude-sonnet-4-5", "claude-haiku-4-5"]
    page.select_option("#f-tool", "web_search")
    assert shown(page) == []
    page.click("#reset")
    page.select_option("#f-destination", "mainland")
    page.select_option("#f-protocol", "volcengine")
    assert shown(page) == ["doubao-seed-2-1-pro"]


def test_sorting_by_name_and_by_price(page: Any, site: Path, bundled: Snapshot) -> None:
    page.goto((site / "index.html").as_uri())
    page.select_option("#f-type", "embedding")
    page.select_option("#sort", "name")
    assert shown(page) == sorted(shown(page))
    page.select_option("#sort", "price")
    views = {v.model.name: v for v in site_view(bundled).models}
    prices = [views[n].headline_price for n in shown(page)]
    assert prices == sorted(prices) and len(set(prices)) > 1


def test_keyboard_reaches_search_and_opens_a_model(page: Any, site: Path) -> None:
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("html[data-ready]")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("whisper")
    assert shown(page) == ["whisper-1"]
    link = page.locator("#models tbody a").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/models/whisper-1.html")
    unlabeled = page.goto((site / "index.html").as_uri()) and page.evaluate(
        "Array.from(document.querySelectorAll('input, select'))"
        ".filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabeled == []


def test_model_page_shows_its_channels_and_shares(page: Any, site: Path, bundled: Snapshot) -> None:
    page.goto((site / "index.html").as_uri())
    page.click("text=GPT-4o mini")
    page.wait_for_url("**/models/gpt-4o-mini.html")
    rows = page.eval_on_selector_all(
        "table.channels tbody tr",
        "rows => rows.map(r => [r.querySelector('th').innerText,"
        " r.querySelector('td.share').innerText])",
    )
    plan = plan_route(bundled, "gpt-4o-mini", None, max_destination=None)
    odds = plan.first_choice_probabilities()
    assert [name for name, _ in rows] == list(bundled.models_by_name["gpt-4o-mini"].channels)
    for name, share in rows:
        if odds[name]:
            assert share == f"{odds[name] * 100:.1f} %"
        else:
            assert share.startswith("0 %")
    assert sum(1 for _, s in rows if not s.startswith("0 %")) >= 1
    screenshot(page, "site-model")
    page.click("text=Prices")
    page.wait_for_url("**/prices.html")
    assert page.locator("h2#tokens").is_visible()
    screenshot(page, "site-prices")


def test_search_answers_within_100_ms_on_4000_models(
    page: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    prices = price_map()
    if prices is None:
        pytest.skip("LiteLLM's price map is not beside the checkout (../shared/data)")
    from benchmarks.catalog_scale import generate

    root = tmp_path_factory.mktemp("big")
    generate(prices, root / "catalog")
    result = build(root / "catalog")
    assert result.snapshot is not None
    report = build_site(Snapshot.from_dict(result.snapshot), root / "site")
    assert report.models >= 4000
    page.goto((root / "site" / "index.html").as_uri())
    page.wait_for_selector("html[data-ready]")
    texts = [
        (v.model.name, search_text(v))
        for v in site_view(Snapshot.from_dict(result.snapshot)).models
    ]
    timings = {}
    for query in ("gpt", "claude", "g", "bedrock claude", "zzz-nothing", ""):
        runs = [page.evaluate(SEARCH_TIMER, query) for _ in range(5)]
        timings[query] = statistics.median(ms for ms, _ in runs)
        needles = query.casefold().split()
        assert runs[0][1] == sum(all(n in text for n in needles) for _, text in texts)
    assert max(timings.values()) < SEARCH_BUDGET_MS, timings


#: Time from typing to the list drawn: the input event, the DOM change and a forced layout.
SEARCH_TIMER = """(query) => {
    const input = document.getElementById('search');
    const started = performance.now();
    input.value = query;
    input.dispatchEvent(new Event('input'));
    document.body.getBoundingClientRect();
    return [performance.now() - started, +document.getElementById('models').dataset.shown];
}"""
