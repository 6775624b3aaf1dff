"""The upstream's body spliced from the client's bytes: exactly orjson's encoding, or none.

The unit tests shape random bodies the ways policy and adapters do and compare every
splice with orjson's encoding of the shaped body; the end-to-end tests send large
requests through the proxy with the official SDK and compare the bytes the upstream got.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from gateway.proxy.body import parse_source
from gateway.proxy.splice import MIN_SPLICE_BYTES, Source, spliced
from tests.conftest import client

MODEL = "gpt-test"


def _text(rng: random.Random, size: int) -> str:
    alphabet = 'abc xyz "\\/\n\té中😀{}[],:'
    return "".join(rng.choice(alphabet) for _ in range(size))


def _messages(rng: random.Random, size: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while sum(len(m["content"]) for m in messages) < size:
        messages.append({"role": rng.choice(["user", "assistant"]), "content": _text(rng, 300)})
    return messages


def _body(rng: random.Random) -> dict[str, Any]:
    """A large chat request, its fields in a random order; some with a nested `model` of the
    same name (metadata, a tool's schema), to be told from the top-level one."""
    fields: list[tuple[str, Any]] = [
        ("model", MODEL),
        ("messages", _messages(rng, MIN_SPLICE_BYTES + rng.randrange(20_000))),
        ("max_tokens", rng.randrange(1, 4096)),
    ]
    if rng.random() < 0.5:
        fields.append(("metadata", {"model": MODEL, "note": _text(rng, 20)}))
    if rng.random() < 0.5:
        schema = {"type": "object", "properties": {"model": {"type": "string"}}, "model": MODEL}
        fields.append(("tools", [{"type": "function", "function": {"parameters": schema}}]))
    if rng.random() < 0.5:
        fields.append(("stream", True))
        fields.append(("stream_options", {"include_usage": rng.random() < 0.5}))
    if rng.random() < 0.3:
        fields.append(("temperature", 0.5))
    rng.shuffle(fields)
    return dict(fields)


def _source(body: dict[str, Any]) -> Source:
    """The body as a client sends it, read as the proxy reads it."""
    parsed, source = parse_source(orjson.dumps(body))
    assert source is not None and source.value is parsed
    return source


def _shapes(rng: random.Random, value: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The shaped copies policy and adapters make of `value` (never changing it in place)."""
    renamed = {**value, "model": "upstream/model-é"}
    system = {
        **renamed,
        "messages": [{"role": "system", "content": "Be brief."}, *value["messages"]],
    }
    usage = {**renamed, "stream_options": {"include_usage": True}}
    added = {**system, "seed": 7, "user": "u"}
    smaller = {k: v for k, v in renamed.items() if k != "max_tokens"}
    reordered = dict(reversed(list(renamed.items())))
    copied = {**renamed, "messages": [dict(m) for m in value["messages"]]}
    return [
        ("renamed", renamed),
        ("system", system),
        ("usage", usage),
        ("added", added),
        ("smaller", smaller),
        ("reordered", reordered),
        ("messages copied", copied),
    ]


def test_every_splice_is_orjsons_encoding_of_the_shaped_body():
    rng = random.Random(18)
    made = {name: 0 for name, _ in _shapes(rng, _body(rng))}
    for _ in range(200):
        source = _source(_body(rng))
        for name, shaped in _shapes(rng, source.value):
            out = spliced(source, shaped)
            if out is not None:
                assert out == orjson.dumps(shaped), name
                made[name] += 1
    # Spliced: a new model name, a system message first, fields changed or added.
    assert made["renamed"] == made["system"] == made["usage"] == made["added"] == 200
    # Encoded again: a field removed, fields reordered, messages not the client's.
    assert made["smaller"] == made["reordered"] == made["messages copied"] == 0


def test_the_top_level_model_is_the_one_renamed_wherever_it_stands():
    messages = _messages(random.Random(1), MIN_SPLICE_BYTES)
    for body in (
        {"model": MODEL, "metadata": {"model": MODEL}, "messages": messages},
        {"metadata": {"model": MODEL}, "messages": messages, "model": MODEL},
        {"messages": messages, "model": MODEL, "metadata": {"model": MODEL}},
        {"messages": messages, "metadata": {"model": MODEL}, "model": MODEL},
    ):
        source = _source(body)
        shaped = {**source.value, "model": "other"}
        out = spliced(source, shaped)
        assert out == orjson.dumps(shaped)
        assert orjson.loads(out)["metadata"] == {"model": MODEL}


def test_small_bodies_and_bodies_changed_otherwise_are_encoded_again():
    small = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert parse_source(small)[1] is None  # no source kept: orjson is cheaper there
    large = _source({"model": MODEL, "messages": _messages(random.Random(2), MIN_SPLICE_BYTES)})
    messages = large.value["messages"]
    assert spliced(large, {**large.value, "messages": messages[1:]}) is None
    assert spliced(large, {"messages": messages, "model": "other"}) is None


def test_a_body_not_written_as_orjson_writes_it_has_no_source():
    text = '{"model": "gpt-test", "messages": []}'  # spaces: not orjson's bytes
    parsed, source = parse_source(text.encode())
    assert parsed == {"model": "gpt-test", "messages": []}
    assert source is None


@pytest.mark.parametrize("stream", [False, True])
def test_the_upstream_gets_the_shaped_body_byte_for_byte(proxy, stream):
    url, fake = proxy
    messages = [
        {"role": "user", "content": f'question {i} é 中 "quoted" \\ {"x" * 400}'} for i in range(30)
    ]
    extra: dict[str, Any] = {"stream": True} if stream else {}
    answer = client(url).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=100, metadata={"model": MODEL}, **extra
    )
    if stream:
        list(answer)
    sent = fake.requests[-1]
    assert sent["headers"]["content-type"] == "application/json"
    expected = {
        **sent["body"],
        "model": "up-gpt",
        "messages": [{"role": "system", "content": "Be brief.\n\nAnswer in English."}, *messages],
        "max_tokens": 100,
        "metadata": {"model": MODEL},
    }
    assert sent["raw"] == orjson.dumps(expected).decode()
    assert sent["body"]["messages"][1:] == messages
    if stream:
        assert sent["body"]["stream_options"] == {"include_usage": True}
