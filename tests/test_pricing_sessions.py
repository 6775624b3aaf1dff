"""Prices of realtime sessions (text and audio tokens, the open hour) and of video by size,
from the catalog's YAML to the cost."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Price, Snapshot
from gateway.usage.pricing import Usage, cost_of

REALTIME = Price.from_dict(
    {
        "currency": "USD",
        "unit": "per_million_tokens",
        "input": "4",
        "cached_input": "0.4",
        "audio_input": "32",
        "cached_audio_input": "0.2",
        "output": "16",
        "audio_output": "64",
        "session_hour": "0.36",
    }
)
VIDEO = Price.from_dict(
    {"currency": "USD", "unit": "per_second", "video": "0.10", "videos": {"1792x1024": "0.50"}}
)


def test_realtime_text_and_audio_tokens_priced_apart_cached_included() -> None:
    usage = Usage(
        input_tokens=1000,
        cached_input_tokens=300,
        audio_input_tokens=700,
        cached_audio_input_tokens=200,
        output_tokens=500,
        audio_output_tokens=450,
    )
    # uncached: 200 text × 4 + 500 audio × 32; cached: 100 text × 0.4 + 200 audio × 0.2;
    # output: 50 text × 16 + 450 audio × 64
    expected = (
        200 * 4
        + 500 * 32
        + Decimal("100") * Decimal("0.4")
        + 200 * Decimal("0.2")
        + 50 * 16
        + 450 * 64
    ) / 1_000_000
    assert cost_of(usage, REALTIME).amount == expected


def test_audio_without_its_own_price_costs_what_text_does() -> None:
    plain = Price.from_dict(
        {"currency": "USD", "unit": "per_million_tokens", "input": "4", "output": "16"}
    )
    usage = Usage(input_tokens=100, audio_input_tokens=60, output_tokens=10, audio_output_tokens=10)
    assert cost_of(usage, plain).amount == Decimal(100 * 4 + 10 * 16) / 1_000_000


def test_open_session_hours_charged_by_the_second() -> None:
    assert cost_of(Usage(session_seconds=Decimal(90)), REALTIME).amount == Decimal("0.009")


def test_video_seconds_priced_by_size_with_a_default() -> None:
    assert cost_of(
        Usage(video_seconds=Decimal(8), video_size="1792x1024"), VIDEO
    ).amount == Decimal("4")
    assert cost_of(Usage(video_seconds=Decimal(8), video_size="720x1280"), VIDEO).amount == Decimal(
        "0.8"
    )


def test_catalog_prices_and_realtime_limits_compile(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("""\
kind: Settings
name: settings
defaults: {realtime_idle_timeout_s: 30, realtime_max_frame_bytes: 65536}
---
kind: Provider
name: mock
protocol: mock
---
kind: Model
name: clips
type: video-generation
properties: {sizes: [1280x720], durations_s: [4]}
---
kind: Channel
name: clips@mock
model: clips
provider: mock
upstream_model: mock-video
price: {unit: per_second, video: "0.1", videos: {1280x720: "0.3"}}
---
kind: Model
name: voice
type: realtime
---
kind: Channel
name: voice@mock
model: voice
provider: mock
upstream_model: mock-realtime
price: {unit: per_million_tokens, input: "4", output: "16", audio_input: "32",
        audio_output: "64", session_hour: "0.1"}
""")
    result = build(tmp_path)
    assert result.snapshot is not None, [d.message for d in result.diagnostics]
    snap = Snapshot.from_dict(result.snapshot)
    assert snap.settings.realtime_idle_timeout_s == 30
    assert snap.settings.realtime_max_session_s == 3600  # the default
    assert snap.channels["clips@mock"].price.videos == {"1280x720": Decimal("0.3")}
    assert snap.channels["voice@mock"].price.amounts["session_hour"] == Decimal("0.1")


def test_video_sizes_price_is_refused_on_a_token_price(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("""\
kind: Provider
name: mock
protocol: mock
---
kind: Model
name: voice
type: realtime
---
kind: Channel
name: voice@mock
model: voice
provider: mock
upstream_model: mock-realtime
price: {unit: per_million_tokens, input: "4", output: "16", videos: {1280x720: "0.3"}}
""")
    result = build(tmp_path)
    assert result.snapshot is None
    assert any(d.file.endswith("c.yaml") for d in result.diagnostics)
