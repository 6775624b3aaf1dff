"""Upstream error text made safe to show: secrets, auth headers, keys and URL details masked."""

from __future__ import annotations

from gateway.usage.redact import sanitize


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    assert (
        sanitize("token was plain-value-1 (plain-value-1)", ["plain-value-1"])
        == "token was *** (***)"
    )


def test_urls_keep_only_scheme_host_and_port() -> None:
    text = sanitize("see https://user:pw@api.example.com:8443/v1/x?key=abc#frag now")
    assert text == "see https://api.example.com:8443 now"


def test_auth_schemes_assignments_and_key_like_words_are_masked() -> None:
    text = sanitize(
        'Authorization: Bearer abc.def api_key="k1" password=p2 '
        "key sk-proj-abcdefgh12345678 and AKIAABCDEFGHIJKLMNOP"
    )
    for secret in ("abc.def", "k1", "p2", "sk-proj-abcdefgh12345678", "AKIAABCDEFGHIJKLMNOP"):
        assert secret not in text
    assert text.startswith("Authorization: Bearer ***")


def test_ordinary_words_and_model_names_stay() -> None:
    for text in (
        "The model `gpt-4o-mini-2024-07-18` does not exist or you do not have access",
        "max_tokens: 1 is below the minimum of 16",
    ):
        assert sanitize(text) == text


def test_text_is_one_line_and_bounded() -> None:
    assert sanitize("a\n  b\tc") == "a b c"
    long = sanitize("word " * 100, limit=20)
    assert len(long) == 20 and long.endswith("…")
    assert sanitize(None) is None
