"""The fast paths relay the upstream's bytes (stream events, plain answers) and give what
the dict path gives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.proxy.adapters.openai import OpenAIAdapter
from gateway.proxy.chunk import RawChunk, RawEvents
from gateway.proxy.conversation import finish_stream
from gateway.proxy.meter import Meter
from gateway.proxy.relay import chat_encoder, relay
from gateway.proxy.sse import SSEDecoder
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.adapter_support import make_call, on_loopback
from tests.upstreams.server import serve_asgi

USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
WORDS = ["Héllo", ' "quoted"', " wörld 中文", " \\ back", "", " end."]


class DictPath(OpenAIAdapter):
    """The same adapter with its own shape_chunk, which turns the fast path off."""

    def shape_chunk(self, call, chunk):
        return super().shape_chunk(call, chunk)


def events(*, compact: bool = True, usage: bool = True, null_usage: bool = False) -> bytes:
    """An OpenAI-like stream: role, words, finish, optional usage chunk, [DONE]."""

    def chunk(choices: list[dict], extra: dict | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": "c-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "up-1",
            "choices": choices,
        }
        if null_usage:
            body["usage"] = None
        body.update(extra or {})
        text = (
            json.dumps(body, separators=(",", ":"), ensure_ascii=False)
            if compact
            else json.dumps(body)
        )
        return b"data: " + text.encode() + b"\n\n"

    out = chunk(
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    )
    for word in WORDS:
        out += chunk([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
    out += chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    if usage:
        out += chunk([], {"usage": USAGE})
    return out + b"data: [DONE]\n\n"


@pytest.fixture(scope="module")
def upstream():
    state: dict[str, Any] = {"body": b"", "step": 97}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        body = state["body"]
        kind = b"application/json" if body.startswith(b"{") else b"text/event-stream"
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]}
        )
        step = state["step"]
        for at in range(0, len(body), step):  # reads that end mid-event
            await send(
                {"type": "http.response.body", "body": body[at : at + step], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(app) as url:
        yield state, url


def through_proxy(
    url: str,
    adapter_class: type[OpenAIAdapter],
    *,
    keep_usage: bool,
    options: dict | None = None,
    error_ok: bool = False,
    event_runs: bool = False,
) -> tuple[bytes, list, Meter]:
    """What relay sends to the client, the chunks behind it, and the meter it filled."""
    call = make_call(
        {"messages": [{"role": "user", "content": "hi"}], "stream": True},
        protocol="openai",
        base_url=url,
        secrets={},
        upstream_model="up-1",
        options=options,
    )
    call.event_runs = event_runs
    meter = Meter("chat", "m", call.body)
    seen: list = []

    async def main() -> bytes:
        http = AiohttpUpstream()
        sent = bytearray()

        async def send(message):
            sent.extend(message["body"])

        async def watched(chunks):
            async for chunk in chunks:
                seen.append(chunk)
                yield chunk

        try:
            chunks = watched(finish_stream(call, adapter_class(http).stream(call)))
            first = await anext(chunks)
            tail, error = await relay(send, first, chunks, chat_encoder(keep_usage), meter)
            if error is not None:
                assert error_ok, error
                return repr(error).encode()
            return bytes(sent) + b"".join(tail)
        finally:
            await http.aclose()

    return asyncio.run(main()), seen, meter


def whole_and_slow(upstream, body: bytes, *, step: int, keep_usage: bool, error_ok: bool = False):
    """`body` streamed by the upstream in reads of `step` bytes, through the fast path taking
    runs of events whole and through the dict path: (what each client got, the fast path's
    chunks, each meter)."""
    state, url = upstream
    state["body"], state["step"] = body, step
    try:
        whole, chunks, whole_meter = through_proxy(
            url, OpenAIAdapter, keep_usage=keep_usage, event_runs=True, error_ok=error_ok
        )
        slow, _, slow_meter = through_proxy(url, DictPath, keep_usage=keep_usage, error_ok=error_ok)
    finally:
        state["step"] = 97
    return whole, slow, chunks, whole_meter, slow_meter


def parsed(raw: bytes) -> list:
    decoder = SSEDecoder()
    return [json.loads(data) for _, data in decoder.feed(raw) + decoder.flush()]


@pytest.mark.parametrize("keep_usage", [True, False])
@pytest.mark.parametrize("usage", [True, False])
def test_compact_upstream_gives_the_same_bytes_on_both_paths(upstream, keep_usage, usage):
    state, url = upstream
    state["body"] = events(usage=usage)
    fast, chunks, fast_meter = through_proxy(url, OpenAIAdapter, keep_usage=keep_usage)
    slow, _, slow_meter = through_proxy(url, DictPath, keep_usage=keep_usage)
    assert fast == slow
    assert all(c["model"] == "m" for c in parsed(fast))
    assert sum(type(c) is RawChunk and c.plain for c in chunks) == len(WORDS) + 1
    assert fast_meter.usage() == slow_meter.usage()
    assert fast_meter.usage().estimated is not usage
    assert ('"usage"' in fast.decode()) is (usage and keep_usage)


@pytest.mark.parametrize("compact,null_usage", [(False, False), (True, True), (False, True)])
def test_other_upstream_spellings_give_the_same_events(upstream, compact, null_usage):
    state, url = upstream
    state["body"] = events(compact=compact, null_usage=null_usage)
    for keep_usage in (True, False):
        fast, _, fast_meter = through_proxy(url, OpenAIAdapter, keep_usage=keep_usage)
        slow, _, slow_meter = through_proxy(url, DictPath, keep_usage=keep_usage)
        assert parsed(fast) == parsed(slow)
        assert fast_meter.usage() == slow_meter.usage()


def test_options_that_edit_chunks_still_apply(upstream):
    state, url = upstream
    state["body"] = events().replace(b"H\xc3\xa9llo", b"<think>why</think>H\xc3\xa9llo")
    fast, _, _ = through_proxy(url, OpenAIAdapter, keep_usage=True, options={"reasoning": "split"})
    slow, _, _ = through_proxy(url, DictPath, keep_usage=True, options={"reasoning": "split"})
    assert fast == slow
    assert "reasoning_content" in fast.decode() and "<think>" not in fast.decode()


def test_unreadable_event_still_ends_the_stream_with_an_error(upstream):
    state, url = upstream
    state["body"] = events().replace(b'"finish_reason":"stop"', b'"finish_reason":stop')
    sent, _, _ = through_proxy(url, OpenAIAdapter, keep_usage=True, error_ok=True)
    assert sent.startswith(b"UpstreamProtocolError") and b"unreadable" in sent


def test_meter_keeps_a_bounded_sample_and_estimates_the_rest_at_its_rate(monkeypatch):
    from gateway.proxy import meter as accounting

    monkeypatch.setattr(accounting, "SAMPLE_BYTES", 200)
    meter = Meter("chat", "m", {"messages": []})
    short = json.dumps({"choices": [{"index": 0, "delta": {"content": "abcd"}}]}).encode()
    long = json.dumps({"choices": [{"index": 0, "delta": {"content": "abcd" * 9}}]}).encode()
    for raw in [short] * 4 + [long] * 6:
        meter.observe(RawChunk(raw, None, True))
        assert meter.sample_bytes <= 200 + len(short)
    assert len(meter.sample) == 4 and meter.unsampled_bytes == 6 * len(long)
    # 16 characters counted in the sample; the rest at 16 per 4 * len(short) bytes
    chars = 16 + 6 * len(long) * 16 // (4 * len(short))
    usage = meter.usage()
    assert usage.output_tokens == (chars + 3) // 4 and usage.estimated
    assert meter.usage() == usage  # counted once


def test_meter_drops_its_sample_once_the_upstream_reports_usage():
    meter = Meter("chat", "m", {"messages": []})
    raw = json.dumps({"choices": [{"index": 0, "delta": {"content": "abcd"}}]}).encode()
    for _ in range(3):
        meter.observe(RawChunk(raw, None, True))
    meter.observe({"choices": [], "usage": USAGE})
    assert meter.sample == [] and meter.sample_bytes == meter.unsampled_bytes == 0
    assert meter.usage().output_tokens == USAGE["completion_tokens"]
    assert not meter.usage().estimated


def plain_through_adapter(url: str, adapter_class: type[OpenAIAdapter]):
    call = make_call(
        {"messages": [{"role": "user", "content": "hi"}]},
        protocol="openai",
        base_url=url,
        secrets={},
        upstream_model="up-1",
    )
    return asyncio.run(on_loopback(adapter_class, call))


ANSWER = {
    "id": "c-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": 'say "model":'},
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ANSWER, separators=(",", ":"), ensure_ascii=False),  # compact
        json.dumps(ANSWER, indent=2),  # pretty, as OpenAI sends it
    ],
)
def test_plain_answers_are_relayed_as_the_upstreams_bytes_renamed(upstream, text):
    state, url = upstream
    state["body"] = text.encode()
    reply = plain_through_adapter(url, OpenAIAdapter)
    assert reply.raw is not None and reply.raw == text.encode().replace(b'"up-1"', b'"m"')
    assert json.loads(reply.raw) == reply.body and reply.body["model"] == "m"


def test_plain_answers_naming_the_model_twice_are_encoded_again(upstream):
    state, url = upstream
    state["body"] = json.dumps({**ANSWER, "extra": {"model": "up-1"}}).encode()
    reply = plain_through_adapter(url, OpenAIAdapter)
    assert reply.raw is None and reply.body["model"] == "m"
    assert reply.body["extra"] == {"model": "up-1"}
    assert plain_through_adapter(url, DictPath).body == reply.body


def test_options_that_edit_answers_drop_the_upstreams_bytes(upstream):
    from gateway.proxy.conversation import finish

    state, url = upstream
    state["body"] = json.dumps(ANSWER).replace("say", "<think>why</think>say").encode()
    call = make_call(
        {"messages": []},
        protocol="openai",
        base_url=url,
        secrets={},
        upstream_model="up-1",
        options={"reasoning": "split"},
    )
    shaped = finish(call, plain_through_adapter(url, OpenAIAdapter))
    assert shaped.raw is None
    assert shaped.body["choices"][0]["message"]["reasoning_content"] == "why"


@pytest.mark.parametrize("step", [97, 1 << 20], ids=["reads-mid-event", "one-read"])
@pytest.mark.parametrize("compact,null_usage", [(True, False), (True, True), (False, True)])
@pytest.mark.parametrize("keep_usage", [True, False])
def test_runs_of_plain_events_relayed_whole_give_the_same_events_and_usage(
    upstream, step, compact, null_usage, keep_usage
):
    body = events(compact=compact, null_usage=null_usage)
    whole, slow, chunks, whole_meter, slow_meter = whole_and_slow(
        upstream, body, step=step, keep_usage=keep_usage
    )
    assert parsed(whole) == parsed(slow)
    if compact:
        assert whole == slow
    assert whole_meter.usage() == slow_meter.usage()
    runs = [c for c in chunks if type(c) is RawEvents]
    if compact and step > len(body):
        # one read: the role chunk and every word in one write, the finish parsed apart
        assert [r.count for r in runs] == [len(WORDS) + 1]


def test_plain_events_are_estimated_when_the_upstream_reports_no_usage(upstream):
    *_, meter, slow = whole_and_slow(upstream, events(usage=False), step=1 << 20, keep_usage=False)
    assert meter.usage() == slow.usage() and meter.usage().estimated


@pytest.mark.parametrize(
    "edit",
    [
        (
            b'"choices":[{"index":0,"delta":{"content":"H',
            b'"choices":[],"x":[{"index":0,"delta":{"content":"H',
        ),
        (
            b'"model":"up-1","choices":[{"index":0,"delta":{"content":" end',
            b'"choices":[{"index":0,"delta":{"content":" end',
        ),
        (b"}\n\ndata: {", b"}\r\n\r\ndata: {"),
        (
            b'"finish_reason":null}]}\n\ndata: {"id":"c-1","object":"chat.completion.chunk","created":1,"model":"up-1","choices":[{"index":0,"delta":{"content":" w',
            b'"finish_reason": "length"}]}\n\ndata: {"id":"c-1","object":"chat.completion.chunk","created":1,"model":"up-1","choices":[{"index":0,"delta":{"content":" w',
        ),
    ],
)
def test_events_that_need_shaping_are_not_relayed_whole(upstream, edit):
    """An empty choices list, a missing model, CRLF framing, a spaced finish reason: the
    read goes the event-by-event way, and the client gets what the dict path gives."""
    body = events()
    assert edit[0] in body
    whole, slow, _, whole_meter, slow_meter = whole_and_slow(
        upstream, body.replace(edit[0], edit[1], 1), step=1 << 20, keep_usage=True, error_ok=True
    )
    assert whole == slow
    assert whole_meter.usage() == slow_meter.usage()


def test_an_event_without_choices_before_the_plain_tail_goes_the_slow_way(upstream):
    """OpenAI's exact chunk ending with an empty choices list in front: not relayed whole,
    since a choice-less event with usage is the usage chunk the client may not want."""
    body = events(null_usage=True)
    edit = (
        b'"choices":[{"index":0,"delta":{"content":"H',
        b'"choices":[],"x":[{"index":0,"delta":{"content":"H',
    )
    assert edit[0] in body
    whole, slow, _, whole_meter, slow_meter = whole_and_slow(
        upstream, body.replace(edit[0], edit[1], 1), step=1 << 20, keep_usage=False
    )
    assert whole == slow and whole_meter.usage() == slow_meter.usage()


def test_a_repeated_usage_before_the_plain_tail_is_null_on_both_paths(upstream):
    """An event naming usage twice, the second the tail's null: every reader takes the last,
    so the run is relayed whole and the client and the meter see what the dict path gives."""
    body = events(null_usage=True)
    plain = b'"model":"up-1","choices":[{"index":0,"delta":{"content":" w'
    assert plain in body
    spliced = b'"model":"up-1","usage":' + json.dumps(USAGE).encode() + plain[14:]
    whole, slow, chunks, whole_meter, slow_meter = whole_and_slow(
        upstream, body.replace(plain, spliced, 1), step=1 << 20, keep_usage=True
    )
    assert whole == slow and whole_meter.usage() == slow_meter.usage()
    assert [c.count for c in chunks if type(c) is RawEvents] == [len(WORDS) + 1]
