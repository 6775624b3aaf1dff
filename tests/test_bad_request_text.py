"""Generated request text that trips byte-level scanners: escaped backslashes before `u`,
escapes that look like surrogates but are text, astral characters, real lone surrogates and
content parts whose text is no string. Each body is served (200) or refused (400) as an
oracle that decodes it says, through a real proxy on loopback; never a 5xx, and a refused
body never reaches the upstream."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bad_request_support import CHAT, EMBEDDINGS, HYPOTHESIS, gate, post, problem, reached

__all__ = ["gate"]  # the proxy fixture, shared with the rest of the bad-request corpus

#: Pieces that trip byte-level scanners: escaped backslashes before `u`, escapes that look
#: like surrogates but are text, astral characters, and real lone surrogates.
TRICKY = st.sampled_from(
    [
        "\\",
        "\\\\",
        "\\u",
        "\\ud800",
        "\\\\ud800",
        "\\udc00x",
        "😀",
        "\U0001f600",
        "\\n",
        '"',
        "\ud800",
        "\udc00",
        "\udbff",
        "é",
    ]
)
TEXT = st.lists(
    st.one_of(TRICKY, st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)), max_size=6
).map("".join)
PART = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, TEXT),
    st.builds(
        lambda t: {"type": "text", "text": t},
        st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
    ),
)
MIXED = st.tuples(
    st.sampled_from([CHAT, EMBEDDINGS]),
    st.booleans(),
    st.one_of(TEXT, st.lists(PART, min_size=1, max_size=3)),
    st.booleans(),
)


def _lone(value: Any) -> bool:
    """The oracle: a decoded string holding a code point U+D800..U+DFFF."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_lone(k) or _lone(v) for k, v in value.items())
    return isinstance(value, list) and any(_lone(v) for v in value)


def mixed_body(path: str, stream: bool, content: Any, ascii_only: bool) -> tuple[bytes, int]:
    """A generated body and the status it must get: 400 for a lone surrogate or a part whose
    text is no string, 200 otherwise."""
    if path == CHAT:
        value = {
            "model": "gpt-test",
            "messages": [{"role": "user", "content": content}],
            "stream": stream,
        }
    else:

        def text_of(part: dict) -> str:
            return "x" + (part["text"] if isinstance(part["text"], str) else "")

        value = {
            "model": "embed",
            "input": [text_of(p) for p in content] if isinstance(content, list) else "x" + content,
        }
    text = json.dumps(value, ensure_ascii=ascii_only)
    body = text.encode("utf-8", "surrogatepass")
    try:
        decoded = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return body, 400  # a real surrogate written as UTF-8 bytes is no UTF-8
    if _lone(decoded):
        return body, 400
    parts = decoded["messages"][0]["content"] if path == CHAT else decoded["input"]
    if isinstance(parts, list) and any(
        not isinstance(p.get("text") if isinstance(p, dict) else p, str) for p in parts
    ):
        return body, 400
    return body, 200


@settings(HYPOTHESIS, max_examples=5000)
@given(case=MIXED)
def test_generated_text_with_escapes_and_surrogates_is_served_or_refused_never_5xx(gate, case):
    body, expected = mixed_body(*case)
    answer = post(gate, body, case[0])
    assert answer.status_code == expected, (body[:300], answer.text[:300])
    assert reached(gate) == (expected == 200)
    if expected == 200 and case[0] == CHAT and case[1]:
        assert answer.text.rstrip().endswith("data: [DONE]")


def test_an_escaped_backslash_before_u_is_text_not_a_surrogate(gate):
    text = "what does \\ud800 mean in JSON?"
    body = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": text}]})
    assert b"\\\\ud800" in body.encode()
    answer = post(gate, body.encode())
    assert answer.status_code == 200, answer.text
    assert gate.fake.requests[-1]["body"]["messages"][-1]["content"] == text
    reached(gate)


@pytest.mark.parametrize("path", [CHAT, EMBEDDINGS])
@pytest.mark.parametrize("stream", [False, True])
def test_an_escaped_backslash_then_a_real_lone_surrogate_is_refused(gate, path, stream):
    value = "\\\\ud800\\udc00"  # text `\ud800`, then the escape of a lone low surrogate
    body = (
        f'{{"model": "{"gpt-test" if path == CHAT else "embed"}", "stream": '
        f'{json.dumps(stream)}, "messages": [{{"role": "user", "content": "{value}"}}], '
        f'"input": "{value}"}}'
    ).encode()
    assert problem(gate, post(gate, body, path)) is None
