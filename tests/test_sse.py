"""The SSE decoder gives the same events whatever the chunk boundaries."""

from gateway.proxy.sse import DONE, SSEDecoder, encode_event

STREAM = (
    b'event: message_start\r\ndata: {"x": "\xc3\xa9\xe4\xb8\xad"}\r\n\r\n'
    b": keep-alive comment\n"
    b"data: line one\ndata: line two\n\n"
    b"data:no-space\n\n" + DONE
)
EXPECTED = [
    ("message_start", '{"x": "é中"}'),
    (None, "line one\nline two"),
    (None, "no-space"),
    (None, "[DONE]"),
]


def test_decoder_reads_events_fields_and_comments():
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) + decoder.flush() == EXPECTED


def test_decoder_is_safe_at_every_split_position():
    for i in range(len(STREAM) + 1):
        for j in range(i, len(STREAM) + 1, 7):
            decoder = SSEDecoder()
            events = decoder.feed(STREAM[:i]) + decoder.feed(STREAM[i:j]) + decoder.feed(STREAM[j:])
            assert events + decoder.flush() == EXPECTED, (i, j)


def test_decoder_byte_by_byte():
    decoder = SSEDecoder()
    events = [e for b in STREAM for e in decoder.feed(bytes([b]))]
    assert events == EXPECTED


def test_flush_delivers_an_event_without_final_blank_line():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [(None, "tail")]


def test_encode_event_round_trips():
    raw = encode_event({"a": "ü"}, event="delta") + encode_event("[DONE]")
    decoder = SSEDecoder()
    assert decoder.feed(raw) == [("delta", '{"a":"ü"}'), (None, "[DONE]")]
