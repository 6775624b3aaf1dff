"""Usage and cost of every request: response headers, the usage log, and /metrics."""

from __future__ import annotations

import json
import random

import httpx
import openai
import pytest

from gateway.proxy.app import ProxyApp
from gateway.usage.log import FIELDS
from tests.conftest import (
    ENV,
    KEY_ALICE,
    KEY_SERVICE,
    channel,
    client,
    consumer,
    holder_of,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.upstreams.server import serve_asgi

PRICE = {"currency": "USD", "unit": "per_million_tokens", "input": "2.50", "output": "10"}
KEY_ADMIN = "admin-key-0123456789"


def priced_catalog(upstream_url: str, **channel_options):
    return snapshot_dict(
        providers=[
            provider(
                "fake", base_url=upstream_url, auth={"type": "bearer", "token": "${MY_FAKE_KEY}"}
            )
        ],
        models=[model("gpt-test")],
        channels=[
            channel(
                "fake-gpt",
                "gpt-test",
                "fake",
                upstream_model="up-gpt",
                price=PRICE,
                price_source="inline",
                options=channel_options,
            )
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("ops", KEY_ADMIN, scopes=["public", "admin"]),
            consumer("service", KEY_SERVICE),
        ],
    )


@pytest.fixture
def served(upstream, tmp_path):
    """The proxy with a usage log file: (url, fake upstream, log path, catalog factory)."""
    fake, url = upstream
    log_path = tmp_path / "usage.jsonl"

    def start(**options):
        app = ProxyApp(
            holder_of(priced_catalog(url, **options), ENV),
            rng=random.Random(1),
            usage_log=str(log_path),
        )
        return app, serve_asgi(app)

    return fake, log_path, start


def read_log(path, count, timeout=5.0):
    def lines() -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    poll(lambda: len(lines()) >= count, timeout)
    return [json.loads(line) for line in lines()]


HI = [{"role": "user", "content": "hi"}]


def test_plain_answer_carries_its_exact_cost_and_is_logged(served):
    fake, log_path, start = served
    app, server = start()
    with server as url:
        answer = client(url).chat.completions.with_raw_response.create(
            model="gpt-test", messages=HI
        )
    # fake upstream: 5 prompt tokens, 4 completion tokens -> 5 * 2.50 + 4 * 10 = 52.5 per 1M
    assert answer.headers["x-modelyard-cost"] == "0.0000525"
    assert answer.headers["x-modelyard-currency"] == "USD"
    app.accountant.close()
    (line,) = read_log(log_path, 1)
    assert set(line) <= set(FIELDS)
    assert line["usage"] == {"input_tokens": 5, "output_tokens": 4}
    assert (line["cost"], line["currency"], line["status"]) == ("0.0000525", "USD", 200)
    assert (line["consumer"], line["model"], line["channel"], line["upstream_model"]) == (
        "alice",
        "gpt-test",
        "fake-gpt",
        "up-gpt",
    )
    assert line["attempts"] == 1 and line["latency_ms"] > 0
    assert "hi" not in json.dumps(line["usage"]) and KEY_ALICE not in log_path.read_text()


def test_streamed_usage_is_read_from_the_stream_even_when_the_client_did_not_ask(served):
    fake, log_path, start = served
    app, server = start()
    with server as url:
        chunks = list(
            client(url).chat.completions.create(model="gpt-test", messages=HI, stream=True)
        )
    assert all(c.usage is None for c in chunks)
    app.accountant.close()
    (line,) = read_log(log_path, 1)
    assert line["usage"] == {"input_tokens": 5, "output_tokens": 4}
    assert line["cost"] == "0.0000525" and line["stream"] is True
    assert line["ttft_ms"] <= line["latency_ms"]


def test_stream_without_upstream_usage_is_estimated_and_marked(served):
    fake, log_path, start = served
    app, server = start(stream_usage=False)
    with server as url:
        list(client(url).chat.completions.create(model="gpt-test", messages=HI, stream=True))
    app.accountant.close()
    (line,) = read_log(log_path, 1)
    assert line["usage"]["estimated"] is True
    # "hi" -> 1 input token; "fake answer from up-gpt" (23 characters) -> 6 output tokens
    assert (line["usage"]["input_tokens"], line["usage"]["output_tokens"]) == (1, 6)


def test_failed_request_is_logged_with_its_status_and_no_cost(served):
    fake, log_path, start = served
    fake.push({"status": 400, "error": {"message": "bad", "type": "invalid_request_error"}})
    app, server = start()
    with server as url, pytest.raises(openai.BadRequestError):
        client(url).chat.completions.create(model="gpt-test", messages=HI)
    app.accountant.close()
    (line,) = read_log(log_path, 1)
    assert line["status"] == 400 and "cost" not in line


def test_metrics_need_an_admin_key_and_count_by_model_channel_and_status(served):
    fake, log_path, start = served
    app, server = start()
    with server as url:
        client(url).chat.completions.create(model="gpt-test", messages=HI)
        assert httpx.get(f"{url}/metrics").status_code == 401
        denied = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY_ALICE}"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY_ADMIN}"}).text
    assert 'modelyard_requests_total{channel="fake-gpt",model="gpt-test",status="200"}' in text
    assert 'modelyard_tokens_total{channel="fake-gpt",kind="input",model="gpt-test"}' in text
    assert 'modelyard_cost_total{channel="fake-gpt",currency="USD",model="gpt-test"}' in text
    assert 'modelyard_circuit_state{channel="fake-gpt"} 0.0' in text
    assert "modelyard_request_duration_seconds_bucket" in text
    assert f'modelyard_snapshot_info{{digest="{app.holder.current.snapshot.digest}"}} 1.0' in text
    assert ENV["MY_FAKE_KEY"] not in text


def test_a_scraper_token_from_the_environment_opens_metrics(served, monkeypatch):
    monkeypatch.setenv("MODELYARD_METRICS_KEY", "scrape-token-1234")
    fake, log_path, start = served
    app, server = start()
    with server as url:
        ok = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer scrape-token-1234"})
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer scrape-token-9999"})
    assert ok.status_code == 200 and wrong.status_code == 401


def test_image_generation_is_priced_per_image_by_size_and_quality(upstream, tmp_path):
    fake, url = upstream
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[
            model(
                "painter",
                type="image-generation",
                capabilities=[],
                properties={"sizes": ["1024x1024"], "qualities": ["standard", "hd"]},
            )
        ],
        channels=[
            channel(
                "mock-painter",
                "painter",
                "mock",
                upstream_model="mock-image",
                price={
                    "currency": "USD",
                    "unit": "per_image",
                    "images": {"1024x1024": {"standard": "0.04", "hd": "0.08"}},
                },
                price_source="inline",
            )
        ],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    log_path = tmp_path / "usage.jsonl"
    app = ProxyApp(holder_of(data, ENV), usage_log=str(log_path))
    with serve_asgi(app) as proxy_url:
        answer = client(proxy_url).images.with_raw_response.generate(
            model="painter", prompt="a cat", n=2, quality="hd", size="1024x1024"
        )
    assert answer.headers["x-modelyard-cost"] == "0.16"
    app.accountant.close()
    (line,) = read_log(log_path, 1)
    assert line["usage"]["images"] == [{"size": "1024x1024", "quality": "hd", "count": 2}]
    assert line["endpoint"] == "images.generations"
