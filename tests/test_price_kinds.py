"""Prices beyond tokens and images: token-priced image models, per call, per hour, and the
vision input estimate when an upstream reports no usage; through the proxy with the SDK."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from gateway.proxy.app import ProxyApp
from gateway.usage import vision
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
from tests.upstreams.media import DURATION_S, IMAGE_USAGE, FakeOpenAIMedia
from tests.upstreams.server import serve_asgi

#: gpt-image-1's token prices per million: text in, image in, image out.
IMAGE_TOKENS = {
    "currency": "USD",
    "unit": "per_million_tokens",
    "input": "5",
    "input_image": "10",
    "output_image": "40",
}
PER_CALL = {"currency": "USD", "unit": "per_call", "call": "0.003"}
PER_HOUR = {"currency": "USD", "unit": "per_hour", "audio": "0.36"}
CHAT = {"currency": "USD", "unit": "per_million_tokens", "input": "1", "output": "1"}


def png_header(width: int, height: int) -> str:
    """A data URL whose PNG header says width x height (the proxy reads only the header)."""
    data = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + struct.pack(">II", width, height)
        + b"\x08\x02\x00\x00\x00"
    )
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[tuple[Any, FakeOpenAIMedia, Any]]:
    fake = FakeOpenAIMedia()
    log = tmp_path_factory.mktemp("log") / "usage.jsonl"
    with serve_asgi(fake.app) as url:
        data = snapshot_dict(
            providers=[provider("up", base_url=f"{url}/v1")],
            models=[
                model("image", type="image-generation", capabilities=[]),
                model("flash-scribe", type="transcription", capabilities=[]),
                model("scribe", type="transcription", capabilities=[]),
                model("vision", capabilities=["image_input", "streaming"]),
            ],
            channels=[
                channel(
                    "c-image",
                    "image",
                    "up",
                    upstream_model="gpt-image-1",
                    price=IMAGE_TOKENS,
                    price_source="inline",
                ),
                channel(
                    "c-flash",
                    "flash-scribe",
                    "up",
                    upstream_model="flash",
                    price=PER_CALL,
                    price_source="inline",
                ),
                channel(
                    "c-scribe",
                    "scribe",
                    "up",
                    upstream_model="scribe",
                    price=PER_HOUR,
                    price_source="inline",
                ),
                channel(
                    "c-vision",
                    "vision",
                    "up",
                    upstream_model="up-vision",
                    price=CHAT,
                    price_source="inline",
                    options={"stream_usage": False},
                ),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        app = ProxyApp(holder_of(data), usage_log=str(log))
        with serve_asgi(app) as proxy:
            yield client(proxy), fake, log
        app.accountant.close()


def test_token_priced_image_model_bills_text_and_image_tokens(proxied):
    api, fake, _ = proxied
    answer = api.images.with_raw_response.generate(model="image", prompt="a red fox")
    assert fake.requests[-1]["body"]["model"] == "gpt-image-1"
    details = IMAGE_USAGE["input_tokens_details"]
    expected = (
        Decimal(details["text_tokens"]) * 5
        + Decimal(details["image_tokens"]) * 10
        + Decimal(IMAGE_USAGE["output_tokens"]) * 40
    ) / 1_000_000
    assert Decimal(answer.headers["x-modelyard-cost"]) == expected
    assert len(answer.parse().data) == 1


def test_per_call_price_bills_each_request_once(proxied):
    api, _, _ = proxied
    answer = api.audio.transcriptions.with_raw_response.create(
        model="flash-scribe", file=("a.wav", b"RIFF....WAVE", "audio/wav")
    )
    assert answer.headers["x-modelyard-cost"] == "0.003"


def test_per_hour_price_bills_the_reported_seconds(proxied):
    api, _, _ = proxied
    answer = api.audio.transcriptions.with_raw_response.create(
        model="scribe", file=("a.wav", b"RIFF....WAVE", "audio/wav"), response_format="verbose_json"
    )
    assert (
        Decimal(answer.headers["x-modelyard-cost"])
        == Decimal("0.36") * Decimal(str(DURATION_S)) / 3600
    )


def test_vision_input_is_estimated_by_tiles_when_the_upstream_reports_no_usage(proxied):
    api, fake, log = proxied
    content: Any = [
        {"type": "image_url", "image_url": {"url": png_header(2048, 4096)}},
        {"type": "image_url", "image_url": {"url": png_header(4000, 3000), "detail": "low"}},
    ]
    chunks = list(
        api.chat.completions.create(
            model="vision", stream=True, messages=[{"role": "user", "content": content}]
        )
    )
    assert chunks and "stream_options" not in fake.requests[-1]["body"]
    poll(lambda: any(json.loads(x)["model"] == "vision" for x in log.read_text().splitlines()))
    (line,) = [x for x in read_log(log, 1) if x["model"] == "vision"]
    # 2048x4096 -> 1024x2048 -> 768x1536: 6 tiles, 85 + 6 * 170; low detail: 85
    assert line["usage"]["input_tokens"] == 1105 + 85
    assert line["usage"]["estimated"] is True


@pytest.mark.parametrize(
    ("size", "detail", "tokens"),
    [
        ((1024, 1024), "high", 765),
        ((2048, 4096), "auto", 1105),
        ((4096, 8192), "high", 1105),
        ((512, 512), "high", 255),
        ((100, 100), "high", 255),
        ((1024, 1024), "low", 85),
    ],
)
def test_tile_rule_matches_the_documented_examples(size, detail, tokens):
    assert vision.tokens_for_size(*size, detail) == tokens
