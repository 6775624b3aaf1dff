"""The reasoning option: think blocks split out of content (also across any chunk cut) or merged in."""

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.proxy.options.reasoning import (
    ThinkSplitter,
    merge_reply,
    merge_stream,
    split_reply,
    split_stream,
    split_text,
)
from gateway.proxy.sse import SSEDecoder
from tests.adapter_support import streamed_text
from tests.conftest import client, running_proxy
from tests.upstreams import thinking_openai as fake
from tests.upstreams.server import serve_asgi

ANSWER = "<think>\nCompare 9.11 and 9.8: 0.8 > 0.11 → 9.8 wins.\n</think>\n\n9.8 is larger — ✓"


def feed_pieces(pieces):
    splitter = ThinkSplitter()
    parts = [splitter.feed(p) for p in pieces] + [splitter.flush()]
    return "".join(r for r, _ in parts), "".join(c for _, c in parts)


def collect(chunks, op=split_stream):
    async def run():
        async def source():
            for chunk in chunks:
                yield chunk

        return [c async for c in op(source())]

    return asyncio.run(run())


def chunk(delta, finish=None, index=0):
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }


def visible(chunks):
    """What a client shows: the joined reasoning and content, and the last finish reason."""
    reasoning = content = ""
    finish = None
    for c in chunks:
        for choice in c["choices"]:
            reasoning += choice["delta"].get("reasoning_content") or ""
            content += choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
    return reasoning, content, finish


def test_split_text_moves_the_leading_think_block_into_reasoning():
    assert split_text(ANSWER) == (
        "Compare 9.11 and 9.8: 0.8 > 0.11 → 9.8 wins.\n",
        "9.8 is larger — ✓",
    )


def test_think_tag_later_in_the_answer_is_content():
    text = "Use the <think> tag like this: <think>x</think>"
    assert split_text(text) == ("", text)


def test_answer_without_think_block_is_unchanged_even_when_it_starts_like_a_tag():
    for text in ("", "  ", "<", "<thi", "<b>bold</b>", "plain"):
        assert split_text(text) == ("", text)


def test_unclosed_think_block_is_all_reasoning():
    assert split_text("<think>still thinking </thi") == ("still thinking </thi", "")


def test_every_single_cut_gives_the_same_result_as_the_whole_answer():
    whole = split_text(ANSWER)
    for i in range(len(ANSWER) + 1):
        assert feed_pieces([ANSWER[:i], ANSWER[i:]]) == whole, i


def test_every_pair_of_cuts_gives_the_same_result():
    whole = split_text(ANSWER)
    n = len(ANSWER)
    for i in range(n + 1):
        for j in range(i, n + 1):
            assert feed_pieces([ANSWER[:i], ANSWER[i:j], ANSWER[j:]]) == whole, (i, j)


def test_one_character_at_a_time_gives_the_same_result():
    assert feed_pieces(list(ANSWER)) == split_text(ANSWER)


PIECES = st.sampled_from(
    ["<think>", "</think>", "<", "/", "think", ">", " ", "\n", "a", "é", "<thi", "nk>", "</th"]
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    text=st.lists(PIECES, max_size=12).map("".join),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=5),
)
def test_any_text_cut_anywhere_splits_like_the_whole(text, cuts):
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    reasoning, content = feed_pieces(pieces)
    assert (reasoning, content) == split_text(text)
    if not text.lstrip().startswith("<think>"):
        assert (reasoning, content) == ("", text)  # nothing is lost or invented


def test_split_reply_fills_reasoning_content():
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": ANSWER},
            }
        ]
    }
    message = split_reply(body)["choices"][0]["message"]
    assert message["reasoning_content"].startswith("Compare 9.11")
    assert message["content"] == "9.8 is larger — ✓"
    assert body["choices"][0]["message"]["content"] == ANSWER  # the input is left alone


def sse_bytes(text, pieces=4):
    """An OpenAI-style SSE stream carrying `text` as content deltas, then the finish chunk."""
    step = max(1, len(text) // pieces)
    deltas = [{"role": "assistant", "content": ""}]
    deltas += [{"content": text[i : i + step]} for i in range(0, len(text), step)]
    events = [chunk(d) for d in deltas] + [chunk({}, "stop")]
    return b"".join(f"data: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events)


def client_view_of_bytes(pieces):
    decoder = SSEDecoder()
    events = [e for p in pieces for e in decoder.feed(p)] + decoder.flush()
    return visible(collect([json.loads(data) for _, data in events]))


def test_stream_split_at_every_byte_gives_the_same_client_view():
    raw = sse_bytes(ANSWER)
    reasoning, content = split_text(ANSWER)
    expected = (reasoning, content, "stop")
    assert client_view_of_bytes([raw]) == expected
    for i in range(len(raw) + 1):
        assert client_view_of_bytes([raw[:i], raw[i:]]) == expected, i


def test_stream_with_content_cut_inside_every_tag_position():
    reasoning, content = split_text(ANSWER)
    for i in range(len(ANSWER) + 1):
        chunks = [
            chunk({"role": "assistant"}),
            chunk({"content": ANSWER[:i]}),
            chunk({"content": ANSWER[i:]}),
            chunk({}, "stop"),
        ]
        assert visible(collect(chunks)) == (reasoning, content, "stop"), i


def test_held_back_text_is_released_when_the_stream_ends_without_finish_reason():
    chunks = [chunk({"content": "<thi"})]
    assert visible(collect(chunks)) == ("", "<thi", None)


def test_choices_are_split_independently():
    chunks = [
        chunk({"content": "<think>a"}, index=0),
        chunk({"content": "plain"}, index=1),
        chunk({"content": "</think>b"}, index=0),
        chunk({}, "stop", index=0),
        chunk({}, "stop", index=1),
    ]
    out = collect(chunks)
    per_index = {0: ["", ""], 1: ["", ""]}
    for c in out:
        for choice in c["choices"]:
            per_index[choice["index"]][0] += choice["delta"].get("reasoning_content") or ""
            per_index[choice["index"]][1] += choice["delta"].get("content") or ""
    assert per_index == {0: ["a", "b"], 1: ["", "plain"]}


def test_merge_reply_wraps_reasoning_in_think_tags():
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "42", "reasoning_content": "6 times 7"},
            }
        ]
    }
    message = merge_reply(body)["choices"][0]["message"]
    assert "reasoning_content" not in message
    assert message["content"] == "<think>\n6 times 7\n</think>\n\n42"
    assert split_text(message["content"]) == ("6 times 7\n", "42")


def test_merge_stream_puts_reasoning_deltas_in_content():
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "6 times"}),
        chunk({"reasoning_content": " 7"}),
        chunk({"content": "42"}),
        chunk({}, "stop"),
    ]
    assert visible(collect(chunks, merge_stream)) == (
        "",
        "<think>\n6 times 7\n</think>\n\n42",
        "stop",
    )


def test_merge_stream_closes_the_block_before_tool_calls():
    call = [
        {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "f", "arguments": "{}"},
        }
    ]
    out = collect(
        [
            chunk({"reasoning_content": "look up"}),
            chunk({"tool_calls": call}),
            chunk({}, "tool_calls"),
        ],
        merge_stream,
    )
    assert visible(out)[1] == "<think>\nlook up\n</think>\n\n"
    assert out[1]["choices"][0]["delta"]["tool_calls"] == call


# --- end to end: the channel option through the proxy ----------------------------------------


@pytest.fixture(scope="module")
def inline_thinker():
    upstream = fake.FakeThinking("volcengine", "/api/v3")
    upstream.inline_think = True
    with serve_asgi(upstream.app) as url:
        data = fake.catalog(
            "volcengine",
            f"{url}/api/v3",
            model_name="r1",
            upstream_model="deepseek-r1",
            key_env="ARK_KEY",
        )
        with running_proxy(data, environ={"ARK_KEY": fake.KEYS["volcengine"]}) as (proxy, _):
            yield proxy, upstream


HELLO = [{"role": "user", "content": "Hello"}]


def test_split_channel_moves_inline_thinking_out_of_plain_answers(inline_thinker):
    url, _ = inline_thinker
    message = (
        client(url)
        .chat.completions.create(model="r1-split", messages=HELLO, reasoning_effort="high")
        .choices[0]
        .message
    )
    assert message.content == fake.ANSWER
    assert message.model_extra["reasoning_content"] == fake.REASONING + "\n"


def test_split_channel_moves_inline_thinking_out_of_streams(inline_thinker):
    url, _ = inline_thinker
    chunks = list(
        client(url).chat.completions.create(
            model="r1-split", messages=HELLO, reasoning_effort="high", stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == fake.ANSWER
    assert (
        "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
        == fake.REASONING + "\n"
    )


def test_passthrough_channel_leaves_inline_thinking_alone(inline_thinker):
    url, _ = inline_thinker
    message = (
        client(url)
        .chat.completions.create(model="r1", messages=HELLO, reasoning_effort="high")
        .choices[0]
        .message
    )
    assert message.content.startswith("<think>")


def test_merge_channel_puts_reasoning_into_content(inline_thinker):
    url, upstream = inline_thinker
    upstream.inline_think = False
    try:
        message = (
            client(url)
            .chat.completions.create(model="r1-merge", messages=HELLO, reasoning_effort="high")
            .choices[0]
            .message
        )
        assert message.content == f"<think>\n{fake.REASONING}\n</think>\n\n{fake.ANSWER}"
        assert "reasoning_content" not in (message.model_extra or {})
        chunks = list(
            client(url).chat.completions.create(
                model="r1-merge", messages=HELLO, reasoning_effort="high", stream=True
            )
        )
        text = streamed_text(chunks)
        assert text == message.content
    finally:
        upstream.inline_think = True
