"""The usage log writes one JSON line per request with the documented fields only."""

import json

from gateway.usage.log import FIELDS, UsageLog


def test_lines_follow_the_schema_and_keep_order(tmp_path):
    path = tmp_path / "usage.jsonl"
    log = UsageLog(str(path))
    for i in range(500):
        log.record({"time": "2026-01-01T00:00:00Z", "request_id": f"r{i}", "model": "m",
                    "status": 200, "usage": {"input_tokens": i}, "prompt": "secret text",
                    "cost": "0.1", "currency": "USD"})
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 500
    first = json.loads(lines[0])
    assert list(first) == ["time", "request_id", "model", "status", "usage", "cost", "currency"]
    assert set(first) <= set(FIELDS)
    assert "secret text" not in path.read_text()
    assert [json.loads(line)["request_id"] for line in lines] == [f"r{i}" for i in range(500)]


def test_off_log_records_nothing(tmp_path):
    log = UsageLog("off")
    log.record({"request_id": "x"})
    log.close()
    assert not log.enabled


def test_full_queue_drops_instead_of_blocking(tmp_path):
    log = UsageLog(str(tmp_path / "u.jsonl"), max_queue=1)
    for i in range(10_000):
        log.record({"request_id": str(i)})
    log.close()
    written = len((tmp_path / "u.jsonl").read_text().splitlines())
    assert written + log.dropped == 10_000


def test_lines_are_json_whatever_the_values_and_times_match_datetime():
    import random
    from datetime import UTC, datetime

    from gateway.usage.log import _line, _time

    rng = random.Random(7)
    for when in [0.0, 1.9999996, 1_700_000_000.9996] + [rng.uniform(0, 4e9) for _ in range(2000)]:
        assert _time(when) == datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    entry = {"time": 1_700_000_000.25, "request_id": "r", "requested_model": 'a"b\\c\n\u2028é',
             "stream": False, "attempts": 0, "latency_ms": 0.1, "ttft_ms": None,
             "usage": {"input_tokens": 1, "estimated": True}, "unknown": "left out"}
    assert json.loads(_line(entry)) == {
        "time": "2023-11-14T22:13:20.250+00:00", "request_id": "r",
        "requested_model": 'a"b\\c\n\u2028é', "stream": False, "attempts": 0,
        "latency_ms": 0.1, "usage": {"input_tokens": 1, "estimated": True}}
    assert _line({}) == "{}\n"


def test_the_proxys_line_builder_writes_what_the_generic_one_writes():
    import random

    from gateway.usage.log import _line, request_line

    rng = random.Random(11)
    texts = ["gpt-4o", 'a"b', "back\\slash", "é中文", "line\nbreak", "\u2028", ""]
    for _ in range(500):
        maybe = lambda value: None if rng.random() < 0.3 else value  # noqa: E731
        values = [rng.uniform(0, 4e9), rng.choice(texts), rng.choice(texts), rng.choice(texts),
                  rng.choice(texts), maybe(rng.choice(texts)), maybe(rng.choice(texts)),
                  maybe(rng.choice(texts)), rng.choice(["chat", "embeddings"]),
                  rng.random() < 0.5, rng.randint(0, 3), rng.choice([200, 429, 502]),
                  maybe(rng.choice(texts)), round(rng.uniform(0, 9e4), 2),
                  maybe(round(rng.uniform(0, 9e4), 2)),
                  rng.choice([{}, {"input_tokens": 3, "estimated": True}]),
                  maybe("0.000125"), maybe("USD")]
        assert request_line(*values) == _line(dict(zip(FIELDS, values, strict=True)))
