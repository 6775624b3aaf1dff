"""The mock's images report usage in gpt-image's shape, derived from the request, so a
token-priced image model is billed offline: the SDK through the proxy to the built-in mock."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gateway.proxy.adapters.mock_media import png
from gateway.proxy.app import ProxyApp
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    holder_of,
    model,
    poll,
    provider,
    snapshot_dict,
)
from tests.test_accounting import read_log
from tests.test_price_kinds import IMAGE_TOKENS
from tests.upstreams.server import serve_asgi

PER_IMAGE = {
    "currency": "USD",
    "unit": "per_image",
    "images": {"1024x1024": {"medium": "0.042"}},
}
PROMPT = "a red fox in snow"  # five words: the mock's text tokens


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Any, Any]]:
    log = tmp_path_factory.mktemp("mock-images") / "usage.jsonl"
    sizes = {"sizes": ["1024x1024", "1024x1536", "1536x1024"]}
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock", base_url=None)],
        models=[
            model("image", type="image-generation", capabilities=["image_edit"], properties=sizes),
            model("image-per-image", type="image-generation", capabilities=[], properties=sizes),
        ],
        channels=[
            channel(
                "c-image",
                "image",
                "mock",
                upstream_model="gpt-image-1",
                price=IMAGE_TOKENS,
                price_source="inline",
            ),
            channel(
                "c-per-image",
                "image-per-image",
                "mock",
                upstream_model="dall-e-3",
                price=PER_IMAGE,
                price_source="inline",
            ),
        ],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    app = ProxyApp(holder_of(data), usage_log=str(log))
    with serve_asgi(app) as url:
        yield client(url), log
    app.accountant.close()


def logged(log: Any, request_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def written() -> bool:
        found[:] = [x for x in read_log(log, 1) if x["request_id"] == request_id]
        return bool(found)

    poll(written)
    return found[0]


def test_generated_images_report_gpt_image_usage_and_are_billed_from_it(served):
    api, log = served
    raw = api.images.with_raw_response.generate(
        model="image", prompt=PROMPT, size="1024x1536", quality="high", n=2
    )
    answer = raw.parse()
    assert len(answer.data) == 2
    usage = answer.usage
    assert usage is not None
    # two high-quality 1024x1536 images: 6240 output tokens each (OpenAI's table)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (5, 12480, 12485)
    assert usage.input_tokens_details.text_tokens == 5
    assert usage.input_tokens_details.image_tokens == 0
    # 5 text tokens at 5 and 12480 image tokens at 40 per million
    assert raw.headers["x-modelyard-cost"] == "0.499225"
    line = logged(log, raw.headers["x-request-id"])
    assert line["cost"] == "0.499225" and "estimated" not in line
    assert line["usage"]["input_tokens"] == 5
    assert line["usage"]["output_image_tokens"] == 12480


def test_edits_count_the_input_image_by_its_size(served):
    api, log = served
    picture = io.BytesIO(png(b"\x10\x20\x30"))  # 8 x 8 px: one tile, 85 + 170 tokens
    picture.name = "fox.png"
    raw = api.images.with_raw_response.edit(model="image", image=picture, prompt="add a scarf")
    usage = raw.parse().usage
    assert usage is not None
    assert usage.input_tokens_details.text_tokens == 3
    assert usage.input_tokens_details.image_tokens == 255
    assert usage.output_tokens == 1056  # one medium 1024x1024 image, the model's first size
    expected = (3 * Decimal(5) + 255 * Decimal(10) + 1056 * Decimal(40)) / 1_000_000
    assert Decimal(raw.headers["x-modelyard-cost"]) == expected
    line = logged(log, raw.headers["x-request-id"])
    assert Decimal(line["cost"]) == expected
    assert line["usage"]["input_image_tokens"] == 255


def test_the_same_request_reports_the_same_usage(served):
    api, _ = served
    one = api.images.generate(model="image", prompt=PROMPT, quality="low")
    two = api.images.generate(model="image", prompt=PROMPT, quality="low")
    assert one.usage == two.usage and one.usage is not None
    assert one.usage.output_tokens == 272


def test_a_per_image_price_ignores_the_reported_tokens(served):
    api, _ = served
    raw = api.images.with_raw_response.generate(model="image-per-image", prompt=PROMPT)
    assert raw.parse().usage is not None
    assert raw.headers["x-modelyard-cost"] == "0.042"
