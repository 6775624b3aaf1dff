"""Cost is exact to the last decimal for every price shape."""

from decimal import Decimal

from gateway.catalog.snapshot import NativeTool, Price
from gateway.usage.pricing import Usage, cost_of, estimate_tokens, usage_from_openai


def price(unit, currency="USD", images=None, **amounts):
    return Price.from_dict(
        {"currency": currency, "unit": unit, **amounts, **({"images": images} if images else {})}
    )


def test_chat_tokens_with_cache_and_reasoning_billed_apart():
    p = price("per_million_tokens", input="2.50", cached_input="1.25", output="10", reasoning="12")
    usage = Usage(
        input_tokens=1000, cached_input_tokens=400, output_tokens=300, reasoning_tokens=100
    )
    # 600 * 2.50 + 400 * 1.25 + 100 * 12 + 200 * 10 = 1500 + 500 + 1200 + 2000 = 5200 per 1M
    assert cost_of(usage, p).amount == Decimal("0.0052")


def test_reasoning_counts_as_output_without_its_own_price():
    p = price("per_million_tokens", input="3", output="15")
    usage = Usage(input_tokens=10, output_tokens=7, reasoning_tokens=5)
    assert cost_of(usage, p).text() == "0.000135"


def test_cache_write_tokens_use_their_price():
    p = price("per_million_tokens", input="3", cached_input="0.3", cache_write="3.75", output="15")
    usage = Usage(input_tokens=3000, cached_input_tokens=1000, cache_write_tokens=1000)
    assert cost_of(usage, p).amount == Decimal("0.00705")


def test_per_thousand_tokens_embedding():
    p = price("per_thousand_tokens", currency="CNY", input="0.0005")
    cost = cost_of(Usage(input_tokens=12345), p)
    assert (cost.amount, cost.currency) == (Decimal("0.0061725"), "CNY")


def test_images_by_size_and_quality():
    p = price(
        "per_image",
        images={
            "1024x1024": {"standard": "0.04", "hd": "0.08"},
            "1792x1024": {"standard": "0.08", "hd": "0.12"},
        },
    )
    usage = Usage(images=(("1024x1024", "hd", 2), ("1792x1024", "standard", 1)))
    assert cost_of(usage, p).amount == Decimal("0.24")


def test_unknown_image_quality_falls_back_to_standard():
    p = price("per_image", images={"1024x1024": {"standard": "0.04", "hd": "0.08"}})
    assert cost_of(Usage(images=(("1024x1024", "ultra", 1),)), p).amount == Decimal("0.04")


def test_speech_per_million_characters():
    p = price("per_million_characters", characters="15")
    assert cost_of(Usage(characters=1234), p).text() == "0.01851"


def test_transcription_per_minute_counts_seconds():
    p = price("per_minute", audio="0.006")
    assert cost_of(Usage(audio_seconds=Decimal("90.5")), p).amount == Decimal("0.00905")


def test_video_per_second():
    p = price("per_second", video="0.10")
    assert cost_of(Usage(video_seconds=Decimal(8)), p).amount == Decimal("0.8")


def test_native_tool_calls_add_their_per_call_price():
    tool = NativeTool("web_search", None, ("chat",), {}, Decimal("0.01"), "USD")
    p = price("per_million_tokens", input="1", output="1")
    usage = Usage(input_tokens=1_000_000, tool_calls={"web_search": 3})
    assert cost_of(usage, p, {"web_search": tool}).amount == Decimal("1.03")


def test_no_price_means_no_cost():
    assert cost_of(Usage(input_tokens=5), None) is None


def test_no_float_drift_over_a_million_requests():
    p = price("per_million_tokens", input="0.1", output="0.3")
    one = cost_of(Usage(input_tokens=1, output_tokens=1), p).amount
    assert one * 1_000_000 == Decimal("0.4")
    assert sum([one] * 10_000, Decimal(0)) == Decimal("0.004")


def test_usage_from_openai_reads_details():
    usage = usage_from_openai(
        {
            "prompt_tokens": 50,
            "completion_tokens": 20,
            "total_tokens": 70,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 5},
        }
    )
    assert usage == Usage(
        input_tokens=50, cached_input_tokens=10, output_tokens=20, reasoning_tokens=5
    )
    assert usage_from_openai(None) is None


def test_estimate_is_one_token_per_four_characters():
    assert [estimate_tokens(s) for s in ("", "abc", "abcd", "abcde")] == [0, 1, 1, 2]


def test_usage_json_form_leaves_out_zeros():
    assert Usage(input_tokens=3, estimated=True).as_dict() == {"input_tokens": 3, "estimated": True}
