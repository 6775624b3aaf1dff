"""`/admin/ui`, its data and `POST /admin/probe`: who may use them and what they answer."""

from __future__ import annotations

import random

import httpx
import pytest

from gateway.proxy.app import ProxyApp
from tests.conftest import ENV, KEY_ALICE, holder_of
from tests.test_admin import KEY_OPS, catalog
from tests.upstreams.server import serve_asgi

SCRAPER = "scraper-token-0123456789"


@pytest.fixture
def console(upstream, monkeypatch):
    monkeypatch.setenv("MODELYARD_METRICS_KEY", SCRAPER)
    fake, url = upstream
    app = ProxyApp(holder_of(catalog(url), ENV), rng=random.Random(1))
    with serve_asgi(app) as proxy_url:
        yield proxy_url, fake


def test_page_without_credentials_asks_for_basic_auth(console) -> None:
    url, _ = console
    answer = httpx.get(f"{url}/admin/ui")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Basic realm="modelyard admin"')
    assert answer.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("auth", [("anyone", KEY_OPS), ("scraper", SCRAPER)])
def test_page_and_its_data_take_an_admin_key_or_the_scraper_token(console, auth) -> None:
    url, _ = console
    page = httpx.get(f"{url}/admin/ui", auth=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    data = httpx.get(f"{url}/admin/ui/status", auth=auth).json()
    assert [c["name"] for c in data["models"][0]["channels"]] == ["fake-gpt", "mock-gpt"]
    bearer = httpx.get(f"{url}/admin/ui/status", headers={"Authorization": f"Bearer {auth[1]}"})
    assert bearer.status_code == 200


def test_non_admin_keys_and_wrong_passwords_are_refused(console) -> None:
    url, _ = console
    assert httpx.get(f"{url}/admin/ui", auth=("alice", KEY_ALICE)).status_code == 403
    wrong = httpx.get(f"{url}/admin/ui", auth=("ops", "not-a-key"))
    assert wrong.status_code == 401 and "www-authenticate" in wrong.headers
    garbled = httpx.get(f"{url}/admin/ui", headers={"Authorization": "Basic !!!"})
    assert garbled.status_code == 401


def test_probe_reports_the_channel_as_modelyard_probe_does(console) -> None:
    url, fake = console
    fake.push(500)
    failed = httpx.post(f"{url}/admin/probe", json={"channel": "fake-gpt"}, auth=("", KEY_OPS))
    assert failed.status_code == 200
    result = failed.json()
    assert (result["channel"], result["outcome"], result["code"]) == ("fake-gpt", "error", "500")
    assert "fake says 500" in result["message"]
    assert ENV["MY_FAKE_KEY"] not in failed.text
    assert fake.requests[-1]["body"]["max_tokens"] == 1  # the probe's smallest request
    ok = httpx.post(f"{url}/admin/probe", json={"channel": "mock-gpt"}, auth=("", KEY_OPS))
    assert ok.json()["outcome"] == "usable"


def test_probe_needs_an_admin_key_a_known_channel_and_post(console) -> None:
    url, _ = console
    scraper = httpx.post(f"{url}/admin/probe", json={"channel": "fake-gpt"}, auth=("", SCRAPER))
    assert scraper.status_code == 401  # the scraper token reads; it does not send requests
    unknown = httpx.post(f"{url}/admin/probe", json={"channel": "nope"}, auth=("", KEY_OPS))
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "channel"
    missing = httpx.post(f"{url}/admin/probe", json={}, auth=("", KEY_OPS))
    assert missing.status_code == 400
    get = httpx.get(f"{url}/admin/probe", auth=("", KEY_OPS))
    assert get.status_code == 400 and get.json()["error"]["code"] == "method_not_allowed"
