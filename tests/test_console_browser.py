"""`/admin/ui` in a real headless Chromium: the page refreshes itself, a channel turns red
within one refresh once its upstream fails, and the probe button reports the failure."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.proxy.app import ProxyApp
from tests.browser_support import browser, screenshot
from tests.conftest import ENV, client, holder_of
from tests.test_admin import HI, KEY_OPS, catalog
from tests.upstreams.server import serve_asgi

__all__ = ["browser"]  # the fixture, imported for pytest

REFRESH_S = 1.0


@pytest.fixture
def status_page(browser: Any, upstream) -> Iterator[tuple[Any, Any, str]]:
    """The page of a proxy in front of the fake upstream, signed in with an admin key."""
    fake, url = upstream
    app = ProxyApp(holder_of(catalog(url), ENV), rng=random.Random(1))
    with serve_asgi(app) as proxy_url:
        # The browser answers the page's Basic challenge, as a person typing the key would.
        context = browser.new_context(
            viewport={"width": 1360, "height": 330},
            http_credentials={"username": "ops", "password": KEY_OPS},
        )
        try:
            page = context.new_page()
            page.goto(f"{proxy_url}/admin/ui?refresh={REFRESH_S}")
            page.wait_for_selector("tr[data-channel='fake-gpt'][data-health]")
            yield page, fake, proxy_url
        finally:
            context.close()


def health(page: Any, channel: str) -> str:
    return page.get_attribute(f"tr[data-channel='{channel}']", "data-health")


def test_a_channel_turns_red_within_one_refresh_after_its_upstream_fails(status_page) -> None:
    page, fake, proxy_url = status_page
    for _ in range(3):  # healthy traffic first: green, with latency figures
        client(proxy_url).chat.completions.create(model="gpt-test", messages=HI)
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-channel='fake-gpt'] "
        "td:nth-child(8)\").textContent.startsWith('3 /')",
        timeout=REFRESH_S * 2000 + 2000,
    )
    assert health(page, "fake-gpt") == "ok"
    assert page.inner_text("tr[data-channel='fake-gpt'] td:nth-child(6)") != "—"  # p50
    fake.push(503)  # the upstream starts failing; the request fails over to the mock
    answer = client(proxy_url).chat.completions.with_raw_response.create(
        model="gpt-test", messages=HI
    )
    assert answer.headers["x-modelyard-channel"] == "mock-gpt"
    # One refresh interval (plus the time one refresh takes) is all the page may need.
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-channel='fake-gpt']\").dataset.health === 'bad'",
        timeout=REFRESH_S * 1000 + 1000,
    )
    row = "tr[data-channel='fake-gpt']"
    assert page.inner_text(f"{row} .badge") == "circuit open"
    assert "503" in page.inner_text(f"{row} td.error") or "upstream" in page.inner_text(
        f"{row} td.error"
    )
    assert page.locator(f"{row} svg.spark rect").count() >= 1  # the failure in the sparkline
    assert health(page, "mock-gpt") == "ok"
    color = page.evaluate(f'getComputedStyle(document.querySelector("{row}")).backgroundColor')
    assert color == "rgb(255, 235, 233)"  # the red row
    fake.push(500)  # for the screenshot: the probe of the red channel, and its answer
    page.get_by_role("button", name="Probe fake-gpt").click()
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-channel='fake-gpt'] "
        ".probe-result\").textContent.startsWith('error')"
    )
    screenshot(page, "admin-ui")


def test_probe_button_reports_error_for_a_failing_channel(status_page) -> None:
    page, fake, _ = status_page
    fake.push(500)
    page.get_by_role("button", name="Probe fake-gpt").click()
    result = page.locator("tr[data-channel='fake-gpt'] .probe-result")
    page.wait_for_function(
        "() => /^(usable|error|timeout|unsupported|unavailable|refused)/"
        ".test(document.querySelector(\"tr[data-channel='fake-gpt'] "
        '.probe-result").textContent)'
    )
    assert result.inner_text().startswith("error")
    assert "500" in result.inner_text()
    page.get_by_role("button", name="Probe mock-gpt").focus()  # a button: keyboard works
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-channel='mock-gpt'] "
        ".probe-result\").textContent.startsWith('usable')"
    )


def test_filter_narrows_the_page_to_channels_with_problems(status_page) -> None:
    page, fake, proxy_url = status_page
    fake.push(503)
    client(proxy_url).chat.completions.create(model="gpt-test", messages=HI)
    page.wait_for_function(
        "() => document.querySelector(\"tr[data-channel='fake-gpt']\").dataset.health === 'bad'",
        timeout=REFRESH_S * 1000 + 1000,
    )
    page.get_by_label("Only channels with problems").check()
    assert page.locator("tr[data-channel]:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    ) == ["fake-gpt"]
    page.get_by_label("Only channels with problems").uncheck()
    page.get_by_label("Filter").fill("mock")
    assert page.locator("tr[data-channel]:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.channel)"
    ) == ["mock-gpt"]
