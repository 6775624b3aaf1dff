"""The Messages ↔ chat translator and Anthropic's event stream written from chat chunks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.catalog.snapshot import Snapshot
from gateway.errors import InvalidRequest
from gateway.proxy.clients.messages_chat import to_chat, to_message
from gateway.proxy.clients.messages_stream import MessagesEncoder
from tests.adapter_support import PIXEL, WEB_SEARCH
from tests.conftest import snapshot_dict

NATIVES = Snapshot.from_dict(
    snapshot_dict(providers=[], models=[], channels=[], native_tools={"web_search": WEB_SEARCH})
).native_tools


def chat(**body: Any) -> dict[str, Any]:
    return to_chat({"model": "m", "max_tokens": 100, **body}, NATIVES)


def test_system_blocks_become_one_system_message():
    out = chat(
        system=[
            {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "B"},
        ],
        messages=[{"role": "user", "content": "hi"}],
    )
    assert out["messages"] == [
        {"role": "system", "content": "A\n\nB"},
        {"role": "user", "content": "hi"},
    ]


def test_tool_results_come_before_the_text_of_their_turn():
    out = chat(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"location": "Paris"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "15 C"}],
                    },
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
            }
        ],
    }
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "15 C"},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_images_and_pdf_documents_become_parts():
    data = PIXEL.split(",", 1)[1]
    out = chat(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": data},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                    {
                        "type": "document",
                        "title": "spec.pdf",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERi0=",
                        },
                    },
                    {"type": "text", "text": "Describe"},
                ],
            }
        ]
    )
    assert out["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": PIXEL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {
            "type": "file",
            "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
        },
        {"type": "text", "text": "Describe"},
    ]


def test_tools_choice_thinking_and_settings():
    out = chat(
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["###"],
        temperature=0.2,
        metadata={"user_id": "u1"},
        top_k=3,
        thinking={"type": "enabled", "budget_tokens": 10000},
        tools=[
            {"name": "f", "description": "d", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
            {"type": "bash_20250124", "name": "bash"},
        ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert out["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object"}, "description": "d"},
        },
        {"type": "web_search"},  # the catalog's name for Anthropic's web search tool
        {"type": "bash_20250124"},
    ]  # no catalog native tool: policy drops and names it
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    assert (out["stop"], out["temperature"], out["user"]) == (["###"], 0.2, "u1")
    assert out["reasoning_effort"] == "high" and "top_k" not in out


@pytest.mark.parametrize(
    "body",
    [{"messages": []}, {"max_tokens": 5}, {"max_tokens": 5, "messages": [{"role": "system"}]}],
)
def test_malformed_requests_are_refused(body):
    with pytest.raises(InvalidRequest):
        to_chat({"model": "m", **body}, NATIVES)


def test_chat_answer_becomes_a_message():
    message = to_message(
        {
            "id": "chatcmpl-1",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "Let me look.",
                        "reasoning_content": "thinking",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"a": 1}'},
                            }
                        ],
                    },
                }
            ],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 5},
            },
        },
        "client-model",
    )
    assert message["id"] == "msg_1" and message["model"] == "client-model"
    assert message["content"] == [
        {"type": "thinking", "thinking": "thinking", "signature": ""},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 15,
        "output_tokens": 7,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 5,
    }


def events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in data.decode().strip().split("\n\n"):
        name, payload = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-9", "object": "chat.completion.chunk", "choices": choices, **extra}


def test_stream_blocks_open_and_close_in_anthropics_order():
    writer = MessagesEncoder("m")
    out = (
        b"".join(
            writer.feed(c)
            for c in [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "Let me think"}),
                chunk({"content": "Hi"}),
                chunk({"content": "!"}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
                chunk({}, "tool_calls"),
                chunk(usage={"prompt_tokens": 9, "completion_tokens": 4}),
            ]
        )
        + writer.end()
    )
    seen = events(out)
    assert [name for name, _ in seen] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert seen[0][1]["message"]["id"] == "msg_9"
    starts = [data for name, data in seen if name == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [
        (0, "thinking"),
        (1, "text"),
        (2, "tool_use"),
    ]
    assert starts[2]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "f",
        "input": {},
    }
    deltas = [data["delta"] for name, data in seen if name == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "Let me think"}
    assert deltas[3:] == [
        {"type": "input_json_delta", "partial_json": '{"a":'},
        {"type": "input_json_delta", "partial_json": " 1}"},
    ]
    assert seen[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 9,
            "output_tokens": 4,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        },
    }


def test_text_relayed_from_the_upstreams_bytes_equals_text_written_from_parsed_chunks():
    from gateway.proxy.chunk import RawChunk

    texts = ["Hello", ' "quoted" ', "naïve \\ é", ""]
    raw = [
        json.dumps(chunk({"content": t}), ensure_ascii=False, separators=(",", ":")).encode()
        for t in texts
    ]
    fast, slow = MessagesEncoder("m"), MessagesEncoder("m")
    first = chunk({"role": "assistant", "content": "Hi"})
    out_fast = fast.feed(first) + b"".join(fast.feed(RawChunk(r, None, True)) for r in raw)
    out_slow = slow.feed(first) + b"".join(slow.feed(json.loads(r)) for r in raw)
    assert out_fast == out_slow
    assert [e[1]["delta"]["text"] for e in events(out_fast)[3:]] == ["Hi", *texts[:3]]


@pytest.mark.parametrize("opening", ["role", "text"], ids=["role-chunk-first", "text-open"])
def test_a_run_of_plain_events_gives_what_the_events_one_by_one_give(opening):
    from gateway.proxy.chunk import RawChunk, RawEvents

    texts = ["Hello", ' "quoted" ', "naïve \\ é", "", "}{", "end"]
    raw = [
        json.dumps(chunk({"content": t}), ensure_ascii=False, separators=(",", ":")).encode()
        for t in texts
    ]
    if opening == "role":
        first = json.dumps(
            chunk({"role": "assistant", "content": ""}), separators=(",", ":")
        ).encode()
        raw = [first, *raw]
    run = RawEvents(b"".join(b"data: " + r + b"\n\n" for r in raw), len(raw))
    whole, one_by_one = MessagesEncoder("m"), MessagesEncoder("m")
    out_whole = whole.feed(run) + whole.end()
    out_one = b"".join(one_by_one.feed(RawChunk(r, None, True)) for r in raw) + one_by_one.end()
    assert out_whole == out_one
    assert "".join(
        e[1]["delta"]["text"] for e in events(out_whole) if e[0] == "content_block_delta"
    ) == "".join(texts)


@pytest.mark.parametrize("form", ["chunks", "run"])
def test_text_after_thinking_or_a_tool_call_from_bytes_equals_the_parsed_path(form):
    """Text-only chunks read from the upstream's bytes open (or reopen) the text block
    exactly where the parsed path does: first text, text after thinking, text after a tool
    call, empty texts that open nothing."""
    from gateway.proxy.chunk import RawChunk, RawEvents

    deltas = [
        {"role": "assistant", "content": ""},
        {"content": ""},
        {"reasoning_content": "Let me think"},
        {"content": "Hello"},
        {"content": ""},
        {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]},
        {"content": ' "after" the call'},
        {"content": "naïve \\ é"},
    ]
    raw = [json.dumps(chunk(d), ensure_ascii=False, separators=(",", ":")).encode() for d in deltas]
    parsed = MessagesEncoder("m")
    out_parsed = b"".join(parsed.feed(json.loads(r)) for r in raw) + parsed.end()
    fast = MessagesEncoder("m")
    if form == "chunks":
        out_fast = b"".join(fast.feed(RawChunk(r, None, True)) for r in raw)
    else:
        out_fast = fast.feed(RawEvents(b"".join(b"data: " + r + b"\n\n" for r in raw), len(raw)))
    out_fast += fast.end()
    assert out_fast == out_parsed
    kinds = [
        e[1]["content_block"]["type"] for e in events(out_fast) if e[0] == "content_block_start"
    ]
    assert kinds == ["thinking", "text", "tool_use", "text"]
