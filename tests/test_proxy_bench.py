"""The proxy benchmark's parts: its catalog, canned upstream answers, pass-throughs, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import openai
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from benchmarks.proxy import bench_catalog, load, passthrough, report, upstream
from tests.upstreams.server import serve_asgi

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
KIND_FILES = {
    "Settings": "settings",
    "Capability": "capability",
    "Consumer": "consumer",
    "Provider": "provider",
    "Model": "model",
    "Channel": "channel",
}


def _validator(kind: str) -> Draft202012Validator:
    registry = Registry()
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resource = Resource.from_contents(schema)
        registry = registry.with_resources([(path.name, resource), (schema["$id"], resource)])
    schema = json.loads((SCHEMAS / f"{KIND_FILES[kind]}.json").read_text())
    return Draft202012Validator(schema, registry=registry)


def _sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n\n") if line.startswith("data: ")]


def test_bench_catalog_documents_follow_the_schemas(tmp_path: Path) -> None:
    bench_catalog.write_catalog(tmp_path, "http://127.0.0.1:8080")
    docs = [d for f in sorted(tmp_path.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    assert {d["kind"] for d in docs} == set(KIND_FILES)
    for doc in docs:
        errors = [e.message for e in _validator(doc["kind"]).iter_errors(doc)]
        assert errors == [], (doc["kind"], doc["name"], errors)


def test_bench_catalog_compiles_without_findings_into_two_streaming_models(tmp_path: Path) -> None:
    from gateway.catalog.compile import build

    result = build(bench_catalog.write_catalog(tmp_path, "http://127.0.0.1:8080"))
    # Only the notices that its upstreams are on loopback (MY419), which --strict allows.
    assert {d.code for d in result.diagnostics} <= {"MY419"}
    models = {m["name"]: m for m in result.snapshot["models"]}
    assert set(models) == {bench_catalog.PLAIN_MODEL, bench_catalog.STREAM_MODEL}
    assert all("streaming" in m["capabilities"] for m in models.values())


def test_bench_catalog_keeps_secrets_as_references_and_key_as_digest(tmp_path: Path) -> None:
    bench_catalog.write_catalog(tmp_path, "http://127.0.0.1:8080")
    text = "".join(f.read_text() for f in tmp_path.glob("*.yaml"))
    assert bench_catalog.UPSTREAM_KEY not in text
    assert bench_catalog.CLIENT_KEY not in text
    assert "${BENCH_UPSTREAM_KEY}" in text
    assert "http://127.0.0.1:8080/sse/v1" in text


def test_canned_stream_ends_with_usage_then_done_and_spells_the_plain_answer() -> None:
    events = _sse_data(upstream.chat_stream())
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 22
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    plain = json.loads(upstream.chat_completion())
    assert content == plain["choices"][0]["message"]["content"]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 10


def test_nginx_config_escapes_newlines_and_listens_on_loopback_only(tmp_path: Path) -> None:
    conf = upstream.nginx_config(tmp_path, 18080)
    assert "listen 127.0.0.1:18080;" in conf
    assert "\\n\\ndata: [DONE]\\n\\n';" in conf
    assert "worker_processes 1;" in conf


def test_wrk_script_refuses_a_body_that_would_end_its_lua_string(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load.write_script(tmp_path / "x.lua", b'{"a": "]==]"}', "key")
    script = load.write_script(tmp_path / "ok.lua", b'{"model": "m"}', "sk-1")
    assert '[==[{"model": "m"}]==]' in script.read_text()


def test_wrk_summary_becomes_rate_percentiles_in_ms_and_error_count() -> None:
    point = load.Point.from_summary(
        {
            "requests": 5000,
            "duration_us": 2_000_000,
            "p50_us": 800,
            "p90_us": 1200,
            "p99_us": 2500,
            "max_us": 9000,
            "connect": 0,
            "read": 1,
            "write": 0,
            "status": 2,
            "timeout": 0,
        }
    )
    assert point.rps == 2500 and point.p50_ms == 0.8 and point.p99_ms == 2.5
    assert point.errors == 3


def _point(rps: float, p50: float) -> load.Point:
    return load.Point(requests=int(rps), rps=rps, p50_ms=p50, p90_ms=p50, p99_ms=p50, errors=0)


def test_report_compares_with_direct_latency_and_bare_aiohttp_throughput() -> None:
    points = {
        ("direct", "plain", 1): _point(20000, 0.05),
        ("bare-aiohttp", "plain", 1): _point(1000, 0.8),
        ("modelyard", "plain", 1): _point(800, 1.25),
        ("bare-aiohttp", "plain", 16): _point(2000, 6.0),
        ("modelyard", "plain", 16): _point(1300, 9.0),
    }
    table = report.table(points)
    assert "| modelyard | plain | 1 | 800 | 1.25 | 1.25 | +1.20 ms | 80% | – | 0 |" in table
    checks = report.check_targets(points, [report.Startup("catalog/", [0.9, 1.2, 1.7], 61.0)])
    assert "added p50, plain, concurrency 1: 1.20 ms (target <= 1.0 ms): MISSED" in checks
    assert (
        "throughput, plain, concurrency 16: 65% of bare aiohttp (target >= 70%): MISSED" in checks
    )
    assert "ready (catalog/): 1.20 s (median of 3, worst 1.70 s) (target < 1.5 s): met" in checks
    assert "RSS (catalog/): 61 MB (target < 100 MB): met" in checks


def test_report_says_what_accounting_adds_to_the_p50() -> None:
    points = {
        ("modelyard", "plain", 1): _point(800, 1.05),
        ("modelyard-no-accounting", "plain", 1): _point(820, 1.0),
        ("modelyard", "stream", 16): _point(1000, 11.0),
        ("modelyard-no-accounting", "stream", 16): _point(1100, 10.0),
    }
    checks = report.check_targets(points, [])
    assert "usage log + metrics, plain, concurrency 1: +5.0% p50 (target < 5%): MISSED" in checks
    assert "usage log + metrics, stream, concurrency 16: +10.0% p50 (target < 5%): MISSED" in checks
    points[("modelyard", "plain", 1)] = _point(800, 1.04)
    assert (
        "usage log + metrics, plain, concurrency 1: +4.0% p50 (target < 5%): met"
        in report.check_targets(points, [])
    )


def _fake_upstream(seen: list[str]) -> Starlette:
    async def plain(request: Request) -> Response:
        seen.append(request.headers["authorization"])
        return Response(upstream.chat_completion(), media_type="application/json")

    async def stream(request: Request) -> Response:
        seen.append(request.headers["authorization"])
        return Response(upstream.chat_stream(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route(upstream.PLAIN_PREFIX + upstream.CHAT_PATH, plain, methods=["POST"]),
            Route(upstream.STREAM_PREFIX + upstream.CHAT_PATH, stream, methods=["POST"]),
        ]
    )


@pytest.mark.parametrize(
    "app", [passthrough.aiohttp_app, passthrough.httpx_app], ids=["aiohttp", "httpx"]
)
def test_passthrough_forwards_plain_and_streamed_chat_with_the_upstream_key(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    with serve_asgi(_fake_upstream(seen)) as upstream_url:
        monkeypatch.setenv("BENCH_UPSTREAM_URL", upstream_url)
        monkeypatch.setenv("BENCH_UPSTREAM_KEY", "sk-upstream")
        with serve_asgi(app, lifespan="on") as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-client", max_retries=0)
            messages = [{"role": "user", "content": "hi"}]
            answer = client.chat.completions.create(model="m", messages=messages)
            chunks = list(client.chat.completions.create(model="m", messages=messages, stream=True))
    assert (
        answer.choices[0].message.content
        == "Hello from the benchmark upstream, one word at a time."
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10
    assert seen == ["Bearer sk-upstream", "Bearer sk-upstream"]


def test_best_round_keeps_the_fastest_round_and_the_least_cpu_of_any_round() -> None:
    from benchmarks.proxy_bench import _better

    slow_lean = replace(_point(800, 2.0), cpu_us=500.0)
    fast_heavy = replace(_point(1000, 1.0), cpu_us=700.0)
    best = _better(_better(None, slow_lean), fast_heavy)
    assert (best.rps, best.p50_ms, best.cpu_us) == (1000, 1.0, 500.0)


def test_profile_summary_splits_own_and_inclusive_time_and_leaves_other_threads_out() -> None:
    from benchmarks.proxy.profile import summarize

    collapsed = "\n".join(
        [
            "run (uvicorn/main.py:1);inference (gateway/proxy/handlers.py:9);loads (json/__init__.py:3) 3",
            "run (uvicorn/main.py:1);inference (gateway/proxy/handlers.py:9) 1",
            "Thread._bootstrap (threading.py:1);WorkerThread.run (anyio/_backends/_asyncio.py:2) 4",
        ]
    )
    text = summarize(collapsed, focus="gateway/", top=5, cpu_us=400.0)
    assert "4 samples of the event loop thread (4 in other threads, left out)" in text
    own, inclusive = text.split("inclusive time")
    assert "75.0%    300.0 us/req  json/__init__.py:loads" in own
    assert "100.0%    400.0 us/req  gateway/proxy/handlers.py:inference" in inclusive
    assert "uvicorn" not in inclusive


def test_process_cpu_and_memory_are_read_from_proc_for_a_live_process() -> None:
    import os

    from benchmarks.proxy import procs

    assert procs.cpu_s(os.getpid()) > 0
    assert 1 < procs.rss_mb(os.getpid()) < 10_000


def test_with_several_rounds_ratios_are_medians_of_each_rounds_ratio() -> None:
    def round_(bare_rps: float, mine_rps: float) -> dict:
        return {
            ("bare-aiohttp", "plain", 16): _point(bare_rps, 6.0),
            ("modelyard", "plain", 16): _point(mine_rps, 8.0),
        }

    rounds = [round_(2000, 1500), round_(1000, 800), round_(3000, 1800)]  # 75%, 80%, 60%
    best = {
        ("bare-aiohttp", "plain", 16): _point(3000, 6.0),
        ("modelyard", "plain", 16): _point(1500, 8.0),
    }  # best of each: 50%
    checks = report.check_targets(best, [], rounds)
    assert (
        "throughput, plain, concurrency 16: 75% of bare aiohttp (median of 3 rounds) "
        "(target >= 70%): met"
    ) in checks
    assert (
        "throughput, plain, concurrency 16: 50% of bare aiohttp (target >= 70%): MISSED"
        in report.check_targets(best, [], rounds[:1])
    )


def test_side_by_side_overhead_is_the_median_slice_ratio_with_its_middle_half() -> None:
    from benchmarks import accounting_bench

    args = accounting_bench.parse_args(["--slices", "5", "--concurrency", "16"])
    ratios = [1.10, 0.98, 1.02, 1.03, 1.01]  # one disturbed slice; the median leaves it out
    pairs = {
        ("plain", 16): [
            accounting_bench.Pair(
                replace(_point(1000, 10 * r), cpu_us=500 * r),
                replace(_point(1000, 10.0), cpu_us=500),
            )
            for r in ratios
        ]
    }
    text = accounting_bench.render(pairs, args)
    assert "| plain | 16 | +2.0% | -0.5% to +6.5% | +2.0% | 1,000 / 1,000 | 0 |" in text
    assert "usage log + metrics, plain, concurrency 16: +2.0% p50 (target < 5%): met" in text
    control = accounting_bench.render(pairs, accounting_bench.parse_args(["--control"]))
    assert "twin of itself" in control and "target" not in control


def test_in_process_overhead_is_the_median_of_slice_by_slice_differences() -> None:
    from benchmarks.proxy import inprocess

    on = [110e-6, 112e-6, 150e-6, 111e-6, 109e-6]  # one disturbed slice
    off = [100e-6, 101e-6, 100e-6, 102e-6, 99e-6]
    spent = {
        ("accounting", "plain"): on,
        ("no-accounting", "plain"): off,
        ("accounting", "stream"): on,
        ("no-accounting", "stream"): off,
    }
    text = inprocess.report(spent, ["accounting", "no-accounting"])
    assert "| accounting | plain | 111.0 |" in text and "| no-accounting | plain | 100.0 |" in text
    assert "accounting adds 10.0 µs (10.0%; middle half of slices 9.5 to 30.5 µs) to plain" in text


def test_baseline_routes_on_the_model_and_forwards_plain_and_streamed_chat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.proxy.bench_catalog import PLAIN_MODEL, STREAM_MODEL

    seen: list[str] = []
    with serve_asgi(_fake_upstream(seen)) as upstream_url:
        monkeypatch.setenv("BENCH_UPSTREAM_URL", upstream_url)
        monkeypatch.setenv("BENCH_UPSTREAM_KEY", "sk-upstream")
        with serve_asgi(passthrough.fast_app, lifespan="on") as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-client", max_retries=0)
            messages = [{"role": "user", "content": "hi"}]
            answer = client.chat.completions.create(model=PLAIN_MODEL, messages=messages)
            chunks = list(
                client.chat.completions.create(model=STREAM_MODEL, messages=messages, stream=True)
            )
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="other", messages=messages)
    assert answer.choices[0].message.content.startswith("Hello from the benchmark")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10
    assert seen == ["Bearer sk-upstream", "Bearer sk-upstream"]


def test_floor_authenticates_renames_meters_and_logs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from benchmarks.proxy import floor
    from benchmarks.proxy.bench_catalog import CLIENT_KEY, PLAIN_MODEL, STREAM_MODEL

    seen: list[str] = []
    log = tmp_path / "usage.jsonl"
    with serve_asgi(_fake_upstream(seen)) as upstream_url:
        monkeypatch.setenv("BENCH_UPSTREAM_URL", upstream_url)
        monkeypatch.setenv("BENCH_UPSTREAM_KEY", "sk-upstream")
        monkeypatch.setenv(floor.USAGE_LOG_ENV, str(log))
        with serve_asgi(floor.floor_app, lifespan="on") as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0)
            messages = [{"role": "user", "content": "hi"}]
            answer = client.chat.completions.with_raw_response.create(
                model=PLAIN_MODEL, messages=messages
            )
            chunks = list(
                client.chat.completions.create(model=STREAM_MODEL, messages=messages, stream=True)
            )
            stranger = openai.OpenAI(base_url=url + "/v1", api_key="sk-other", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                stranger.chat.completions.create(model=PLAIN_MODEL, messages=messages)
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model="other", messages=messages)
            deadline = time.monotonic() + 5
            while len(_lines(log)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)  # the floor writes its usage log every 100 ms
    assert answer.parse().model == PLAIN_MODEL
    assert float(answer.headers["x-modelyard-cost"]) > 0
    assert {c.model for c in chunks} == {STREAM_MODEL}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10
    assert seen == ["Bearer sk-upstream", "Bearer sk-upstream"]
    records = [json.loads(line) for line in _lines(log)]
    assert [r["usage"]["completion_tokens"] for r in records] == [10, 10]
    assert all(r["consumer"] == "bench-client" and r["cost"] > 0 for r in records)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_report_sets_the_floor_against_the_baseline_and_modelyard_against_the_floor() -> None:
    points = {
        ("baseline", "plain", 16): _point(1000, 6.0),
        ("floor", "plain", 16): _point(900, 6.5),
        ("modelyard", "plain", 16): _point(450, 9.0),
    }
    assert report.floor_shares(points, []) == [
        "floor, plain, concurrency 16: 90% of the baseline; modelyard 50% of the floor"
    ]


def test_request_and_stream_shapes_have_the_sizes_the_benchmark_names() -> None:
    import json

    from benchmarks.proxy import shapes
    from benchmarks.proxy.targets import request_body

    multiturn = json.loads(request_body("stream", "multiturn"))
    agent = json.loads(request_body("plain", "agent"))
    assert 900 < len(request_body("plain", "multiturn")) < 1500
    assert multiturn["messages"][0]["role"] == "system"
    assert multiturn["stream_options"] == {"include_usage": True}
    assert 60_000 < len(request_body("plain", "agent")) < 70_000
    assert len(agent["tools"]) == 20 and len(agent["messages"]) > 50
    events = [e for e in shapes.openai_stream(200).split("\n\n") if e]
    assert len(events) == 201 and events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert all("usage" in c for c in chunks) and chunks[-1]["usage"]["completion_tokens"] == 197
    assert sum(c["usage"] is None for c in chunks) == 199


def test_report_checks_throughput_and_added_p50_against_the_baseline() -> None:
    points = {
        ("direct", "stream", 1): _point(20000, 0.10),
        ("baseline", "stream", 1): _point(1000, 0.60),
        ("modelyard", "stream", 1): _point(800, 0.80),
        ("baseline", "stream", 16): _point(2000, 6.0),
        ("modelyard", "stream", 16): _point(1700, 9.0),
    }
    checks = report.check_targets(points, [])
    assert (
        "added p50, stream, concurrency 1: 1.40x the baseline's 0.50 ms (target <= 1.3x): "
        "MISSED" in checks
    )
    assert "throughput, stream, concurrency 16: 85% of the baseline (target >= 80%): met" in checks
    assert "% of baseline" in report.table(points)


def test_messages_stream_overhead_is_set_against_the_chat_streams_over_direct() -> None:
    rounds = [
        {
            ("direct", "stream", 1): _point(5000, 0.2),
            ("modelyard", "stream", 1): _point(900, 1.2),
            ("modelyard", "messages-stream", 1): _point(850, 1.3 + bump),
        }
        for bump in (0.0, 0.05, 0.4)
    ]
    points = rounds[0]
    table = report.table(points)
    assert "| modelyard | messages-stream | 1 | 850 | 1.30 | 1.30 | +1.10 ms |" in table
    (line,) = report.messages_overhead(points, rounds)
    # (1.35 - 0.2) / (1.2 - 0.2), the middle of the three rounds' ratios
    assert line.startswith(
        "messages stream overhead, concurrency 1: 1.15x the chat stream's "
        "added p50 (median of 3 round(s); target <= 1.20x): met"
    )


FEATURE_SWITCH_CHECK = """
import asyncio

from benchmarks.proxy import features
from gateway import compiled

assert not compiled.running()
spent = asyncio.run(features.measure(list(features.FEATURES), slices=2, count=3))
assert set(spent) == {(name, mode) for name in features.FEATURES for mode in ("plain", "stream")}
assert all(len(w) == len(o) == 2 for w, o in spent.values())
from gateway.proxy import pipeline, router
from gateway.proxy.disconnect import DisconnectWatch
from gateway.proxy.endpoints import CHAT, POST
from gateway.proxy.timeout import timeout_at

assert POST[features.CHAT_PATH] is CHAT
assert pipeline.DisconnectWatch is DisconnectWatch and router.timeout_at is timeout_at
"""


def test_every_feature_switch_finds_what_it_switches_off_and_restores_it() -> None:
    """On the Python sources (MODELYARD_SOURCES), as the tool runs itself: compiled
    callers would call the switched functions directly, past the switch."""
    env = {**os.environ, "MODELYARD_SOURCES": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FEATURE_SWITCH_CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr


def test_revisions_measures_two_trees_in_turn_and_reports_their_ratio() -> None:
    """A git revision against this checkout's sources, each in its own tree and process."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.proxy.revisions", "HEAD", "WORKTREE", "--rounds", "2"]
        + ["--", "--slices", "2", "--count", "5", "--modes", "plain"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "| setup | mode | HEAD µs | WORKTREE µs | B / A |"
    rows = [line.split(" | ") for line in lines[2:]]
    assert {(row[0].strip("| "), row[1]) for row in rows} == {
        ("accounting", "plain"),
        ("no-accounting", "plain"),
    }
    for row in rows:
        a, b, ratio = float(row[2]), float(row[3]), float(row[4].rstrip(" |"))
        assert a > 0 and b > 0 and abs(ratio - b / a) < 0.01
