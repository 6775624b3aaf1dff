"""The usage log writes one JSON line per request with the documented fields only."""

import json
import random
from datetime import UTC, datetime

from gateway.usage.log import FIELDS, UsageLog, _time, request_line


def line(request_id: str = "r", **changes):
    """A request's line; `changes` replace the defaults by field name."""
    values = dict(
        zip(
            FIELDS,
            [
                1_700_000_000.25,
                request_id,
                "alice",
                "m",
                "m",
                "c",
                "p",
                "up",
                "chat",
                False,
                1,
                200,
                None,
                12.5,
                None,
                {"input_tokens": 3},
                "0.1",
                "USD",
            ],
            strict=True,
        )
    )
    values.update(changes)
    return request_line(*values.values())


def test_lines_follow_the_schema_and_keep_order(tmp_path):
    path = tmp_path / "usage.jsonl"
    log = UsageLog(str(path))
    log.write([line(f"r{i}") for i in range(250)])
    log.write([line(f"r{i}") for i in range(250, 500)])
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 500
    first = json.loads(lines[0])
    assert list(first) == [f for f in FIELDS if f not in ("error_code", "ttft_ms")]
    assert [json.loads(text)["request_id"] for text in lines] == [f"r{i}" for i in range(500)]


def test_off_log_writes_nothing():
    log = UsageLog("off")
    log.write([line()])
    log.close()
    assert not log.enabled


def test_times_match_datetime():
    rng = random.Random(7)
    for when in [0.0, 1.9999996, 1_700_000_000.9996] + [rng.uniform(0, 4e9) for _ in range(2000)]:
        assert _time(when) == datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")


def test_lines_are_json_whatever_the_values_and_leave_none_out():
    rng = random.Random(11)
    texts = ["gpt-4o", 'a"b', "back\\slash", "é中文", "line\nbreak", "\u2028", ""]
    usages = [
        {},
        {"input_tokens": 3, "estimated": True},
        {"audio_seconds": "1.5", "tool_calls": {"web_search": 2}},
    ]
    for _ in range(500):
        values = {
            name: rng.choice(texts)
            for name in (
                "consumer",
                "model",
                "requested_model",
                "channel",
                "provider",
                "upstream_model",
                "error_code",
                "cost",
                "currency",
            )
        }
        for name in (
            "channel",
            "provider",
            "upstream_model",
            "error_code",
            "ttft_ms",
            "cost",
            "currency",
        ):
            if rng.random() < 0.3:
                values[name] = None
        values.update(
            stream=rng.random() < 0.5,
            attempts=rng.randint(0, 3),
            status=rng.choice([200, 429, 502]),
            usage=rng.choice(usages),
            latency_ms=round(rng.uniform(0, 9e4), 2),
        )
        if "ttft_ms" not in values:
            values["ttft_ms"] = round(rng.uniform(0, 9e4), 2)
        parsed = json.loads(line(**values))
        expected = {k: v for k, v in values.items() if v is not None}
        assert {k: parsed[k] for k in expected} == expected
        assert list(parsed) == [f for f in FIELDS if f in parsed]
        assert set(parsed) == set(expected) | {"time", "request_id", "endpoint"}
    assert json.loads(line())["time"] == "2023-11-14T22:13:20.250+00:00"
