"""The one-pass proof in C (gateway/proxy/adapters/_sse_runs.c): what it takes whole, the
counted proof in Python takes too, with the same bytes; what can end or meter a stream,
or needs shaping, ends its run."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from gateway.proxy.adapters import openai_rename
from gateway.proxy.adapters.openai_rename import _rename
from gateway.proxy.chunk import RawEvents

one_pass = openai_rename._one_pass
pytestmark = pytest.mark.skipif(one_pass is None, reason="the Python build has no C")

UPSTREAM, CLIENT = "up-model", "client-name-longer"
NEEDLE = b'"model":"' + UPSTREAM.encode() + b'"'


def event(content: str = "hi", *, usage_tail: bool = True, **extra: Any) -> bytes:
    """One plain event, compact, as OpenAI writes it (`"usage":null` last when asked for)."""
    body: dict[str, Any] = {
        "id": "c-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": UPSTREAM,
        **extra,
        "choices": [
            {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None}
        ],
    }
    if usage_tail:
        body["usage"] = None
    return (
        b"data: " + json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def stream(count: int, *, usage_tail: bool = True) -> bytes:
    words = ["Héllo", ' "quoted"', " 中文", " \\ back", "", ' "error" "usage"']
    return b"".join(event(words[i % len(words)], usage_tail=usage_tail) for i in range(count))


def run(buffer: bytes, client: str = CLIENT) -> tuple[bytes | None, int, int]:
    rename = _rename(UPSTREAM, client)
    return one_pass(buffer, rename.needles[0][1], rename.renamed)


def counted(buffer: bytes, client: str = CLIENT) -> tuple[RawEvents | None, bytes]:
    return _rename(UPSTREAM, client).counted_events(buffer)


@pytest.mark.parametrize("usage_tail", [True, False])
@pytest.mark.parametrize("client", [CLIENT, "short", UPSTREAM])
@pytest.mark.parametrize("size", [40, 600])  # 600: more events than the C keeps on its stack
def test_a_stream_as_openai_writes_it_is_taken_as_the_counted_proof_takes_it(
    usage_tail, client, size
):
    buffer = stream(size, usage_tail=usage_tail) + b'data: {"partial'
    renamed, stop, count = run(buffer, client)
    events, rest = counted(buffer, client)
    assert events is not None and count == events.count == size
    assert renamed == events.raw and buffer[stop:] == rest == b'data: {"partial'
    assert renamed == buffer[:stop].replace(NEEDLE, b'"model":' + json.dumps(client).encode())


def test_a_whole_read_under_the_same_name_is_relayed_as_it_is():
    buffer = stream(5)
    renamed, stop, count = run(buffer, UPSTREAM)
    assert renamed is buffer and (stop, count) == (len(buffer), 5)


#: Each turns a plain event into one the relay must not take unparsed.
HOSTILE = {
    "a finish reason": lambda e: e.replace(b'"delta"', b'"finish_reason":"stop","delta"'),
    "an error": lambda e: e.replace(b'"created"', b'"error":{"message":"x"},"created"'),
    "a CR": lambda e: e.replace(b'"hi"', b'"h\ri"'),
    "a line break": lambda e: e.replace(b'"hi"', b'"h\ni"'),
    "no choices": lambda e: e.replace(b'"choices":[{', b'"choices": [{'),
    "two choices keys": lambda e: e.replace(b'"created"', b'"choices":[{}],"created"'),
    "another model": lambda e: e.replace(NEEDLE, b'"model":"other"'),
    "the model twice": lambda e: e.replace(b'"created"', NEEDLE + b',"created"'),
    "no tail": lambda e: e.replace(b'"usage":null}', b'"usage":null,"x":1}'),
    "a blank line missing": lambda e: e[:-1],
    "another field name": lambda e: b"event: x\n" + e,
    "a pretty-printed tail": lambda e: e.replace(b'"finish_reason":null', b'"finish_reason": null'),
    "a finish reason before the tail": lambda e: e.replace(
        b'"logprobs":null', b'"logprobs":null,"finish_reason":null'
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_what_can_end_or_meter_the_stream_ends_the_run_before_it(name):
    events = [event() for _ in range(5)]
    hostile = HOSTILE[name](events[3])
    assert hostile != events[3]
    renamed, stop, count = run(b"".join(events[:3]) + hostile + events[4])
    assert count == 3 and stop == 3 * len(events[0])
    assert renamed == b"".join(events[:3]).replace(NEEDLE, b'"model":"' + CLIENT.encode() + b'"')
    assert run(hostile + b"".join(events[1:])) == (None, 0, 0)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_what_ends_the_run_ends_it_wherever_it_falls_in_a_block_of_sixteen_bytes(name):
    """The C looks at sixteen bytes at a time where it can: each hostile change, moved a
    byte further 32 times, ends the run whatever its offset in a block."""
    for shift in range(33):
        longer_id = b'"id":"c-1' + b"x" * shift + b'"'
        events = [event().replace(b'"id":"c-1"', longer_id) for _ in range(3)]
        hostile = HOSTILE[name](events[1])
        assert hostile != events[1]
        assert run(events[0] + hostile + events[2])[2] == 1, shift
        assert run(b"".join(events))[2] == 3, shift


def test_a_usage_without_the_usage_tail_ends_the_run():
    plain = event(usage_tail=False)
    with_usage = plain.replace(b'"created"', b'"usage":{"total_tokens":3},"created"')
    assert run(plain * 2 + with_usage + plain)[2] == 2
    # with the tail's "usage":null last, the event's usage is null for every reader
    repeated = event().replace(b'"created"', b'"usage":{"total_tokens":3},"created"')
    assert run(event() * 2 + repeated + event())[2] == 4


def test_one_tail_for_a_run():
    assert run(event() * 2 + event(usage_tail=False) * 2)[2] == 2
    assert run(event(usage_tail=False) * 2 + event() * 2)[2] == 2


def test_it_takes_nothing_the_counted_proof_refuses():
    """Random damage to realistic reads: every run taken in one pass is one the counted
    proof takes with the same bytes and count."""
    rng = random.Random("sse-runs")
    tokens = [
        b'"error"', b"\r", b"\n", b"\n\n", b'"finish_reason":"stop"', b'"finish_reason"',
        b'"usage":{"a":1}', b'"usage"', b'"choices":[{', NEEDLE, b"data: {", b"}", b'"',
        b'"finish_reason":null}],"usage":null}\n\n', b'"finish_reason":null}]}\n\n', b"[DONE]",
    ]  # fmt: skip
    taken = 0
    for _ in range(3000):
        buffer = bytearray(stream(rng.randint(1, 8), usage_tail=rng.random() < 0.5))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(buffer) + 1)
            if rng.random() < 0.7:
                buffer[at:at] = rng.choice(tokens)
            else:
                del buffer[at : at + rng.randint(1, 12)]
        data = bytes(buffer)
        renamed, stop, count = run(data)
        if renamed is None:
            assert (stop, count) == (0, 0)
            continue
        taken += 1
        events, rest = counted(data[:stop])
        assert events is not None and rest == b"", data
        assert (events.raw, events.count) == (renamed, count), data
    assert taken > 300  # the damage left enough runs to compare


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        one_pass("text", NEEDLE, NEEDLE)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        one_pass(b"data: {}\n\n", b"x", b"y")
