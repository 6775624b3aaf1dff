"""Model tests (`modelyard probe`) against the fake OpenAI upstream on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.probe_cmd import probe as probe_command
from gateway.catalog.snapshot import Snapshot
from gateway.proxy.probe import (
    ProbeSelectionError,
    probe,
    run,
    select,
    silent_wav,
    smallest_request,
)
from gateway.proxy.upstream_http import AiohttpUpstream
from tests.conftest import channel, model, provider, snapshot_dict

SECRET = "upstream-secret-0123456789"
ENV = {"PROBE_KEY": SECRET}
MODEL_GONE = {
    "status": 404,
    "error": {
        "message": "The model `up-gone` does not exist",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    },
}


def catalog(url: str) -> dict:
    """One model per behaviour the probe must tell apart, each with one channel."""
    auth = {"type": "bearer", "token": "${PROBE_KEY}"}
    return snapshot_dict(
        providers=[
            provider("fake", base_url=url, auth=auth),
            provider(
                "nokey", base_url=url, auth={"type": "bearer", "token": "${PROBE_MISSING_KEY}"}
            ),
            provider("mock", protocol="mock"),
            provider("claude", protocol="anthropic", base_url=url),
        ],
        models=[
            model("answers", order=1),
            model("errors", order=2),
            model("stalls", order=3),
            model("gone", order=4),
            model("keyless", order=5),
            model("embed", type="embedding", order=6),
            model("voice", type="speech", order=7),
            model("picture", type="image-generation", order=8),
            model("helper", visibility="internal", order=9),
            model("thinker", capabilities=["reasoning"], order=10),
            model("shadowed", order=11),
        ],
        channels=[
            channel("answers@fake", "answers", "fake", upstream_model="up-answers"),
            channel("answers@mock", "answers", "mock", priority="low"),
            channel("errors@fake", "errors", "fake", upstream_model="up-errors"),
            channel("stalls@fake", "stalls", "fake", upstream_model="up-stalls"),
            channel("gone@fake", "gone", "fake", upstream_model="up-gone"),
            channel("keyless@nokey", "keyless", "nokey", upstream_model="up-keyless"),
            channel("embed@fake", "embed", "fake", upstream_model="up-embed"),
            channel("voice@claude", "voice", "claude"),
            channel("picture@fake", "picture", "fake", upstream_model="up-picture"),
            channel("helper@fake", "helper", "fake", upstream_model="up-helper"),
            channel("thinker@fake", "thinker", "fake", upstream_model="up-thinker"),
            channel("shadowed@fake", "shadowed", "fake", upstream_model="up-shadowed"),
            channel("shadowed@mock", "shadowed", "mock", status="inactive"),
        ],
    )


def script(fake) -> None:
    fake.push(500, model="up-errors")
    fake.push({"stall": "headers"}, model="up-stalls")
    fake.push(MODEL_GONE, model="up-gone")


def by_channel(report) -> dict:
    return {r.channel: r for r in report.results}


@pytest.fixture
def snap(upstream) -> Snapshot:
    fake, url = upstream
    script(fake)
    return Snapshot.from_dict(catalog(url))


def test_each_channel_is_classified_usable_error_timeout_unsupported_or_unavailable(
    upstream, snap
) -> None:
    names = ["answers", "errors", "stalls", "gone", "keyless", "embed", "voice"]
    started = time.monotonic()
    report = run(
        snap, select(snap, names, all_models=False, channel=None), environ=ENV, timeout_s=0.5
    )
    assert time.monotonic() - started < 5  # the stall is cut at the timeout
    got = by_channel(report)
    assert {c: r.outcome for c, r in got.items()} == {
        "answers@fake": "usable",
        "answers@mock": "usable",
        "errors@fake": "error",
        "stalls@fake": "timeout",
        "gone@fake": "unsupported",
        "keyless@nokey": "unavailable",
        "embed@fake": "usable",
        "voice@claude": "unsupported",
    }
    assert got["answers@fake"].latency_ms is not None and got["answers@fake"].code is None
    assert got["errors@fake"].code == "500" and "fake says 500" in got["errors@fake"].message
    assert got["stalls@fake"].message == "no answer within 0.5 s"
    assert got["gone@fake"].code == "model_not_found"
    assert "`up-gone` does not exist" in got["gone@fake"].message
    assert got["keyless@nokey"].message == "missing secret: set PROBE_MISSING_KEY"
    assert got["voice@claude"].message == "the anthropic adapter does not serve audio.speech"
    first = got["errors@fake"]
    assert (first.provider, first.protocol, first.upstream_model, first.type) == (
        "fake",
        "openai",
        "up-errors",
        "chat",
    )


def test_the_smallest_request_reaches_the_upstream_with_the_channel_credentials(
    upstream, snap
) -> None:
    fake, _ = upstream
    run(
        snap,
        select(snap, ["answers", "embed", "thinker"], all_models=False, channel=None),
        environ=ENV,
        timeout_s=5,
    )
    chat = fake.requests_for("up-answers")[0]
    assert chat["path"] == "/v1/chat/completions"
    assert chat["body"] == {
        "model": "up-answers",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "ping"}],
    }
    assert chat["headers"]["authorization"] == f"Bearer {SECRET}"
    assert fake.requests_for("up-embed")[0]["body"] == {"model": "up-embed", "input": "ping"}
    thinker = fake.requests_for("up-thinker")[0]["body"]
    assert thinker["max_completion_tokens"] == 1 and "max_tokens" not in thinker


def test_upstream_error_messages_never_show_the_key(upstream, snap) -> None:
    fake, _ = upstream
    fake.push(
        {
            "status": 401,
            "error": {
                "message": f"Incorrect API key provided: {SECRET}. "
                "See https://u:p@platform.example.com/keys",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            },
        },
        model="up-answers",
    )
    result = by_channel(
        run(snap, select(snap, ["answers"], all_models=False, channel="answers@fake"), environ=ENV)
    )["answers@fake"]
    assert result.outcome == "error" and result.code == "invalid_api_key"
    assert SECRET not in result.message and "u:p@" not in result.message
    assert "Incorrect API key provided" in result.message


def test_costly_types_are_skipped_unless_asked_for(upstream, snap) -> None:
    fake, _ = upstream
    targets = select(snap, ["picture"], all_models=False, channel=None)
    skipped = run(snap, targets, environ=ENV).results[0]
    assert (skipped.outcome, skipped.latency_ms) == ("skipped", None)
    assert "--include-costly" in skipped.message
    sent = run(snap, targets, environ=ENV, include_costly=True).results[0]
    # The fake upstream has no images endpoint: it answers 404, so the request was sent.
    assert sent.outcome == "unsupported" and sent.latency_ms is not None


def test_probes_run_concurrently_up_to_the_limit(upstream) -> None:
    fake, url = upstream
    snap = Snapshot.from_dict(catalog(url))
    names = ["answers", "errors", "gone", "embed", "helper", "thinker"]
    for upstream_model in (
        "up-answers",
        "up-errors",
        "up-gone",
        "up-embed",
        "up-helper",
        "up-thinker",
    ):
        fake.push({"slow": 0.1}, model=upstream_model)

    class Counting(AiohttpUpstream):
        def __init__(self) -> None:
            super().__init__()
            self.now = self.peak = 0

        async def request(self, *args, **kw):
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                return await super().request(*args, **kw)
            finally:
                self.now -= 1

    async def main() -> tuple[int, int]:
        http = Counting()
        try:
            report = await probe(
                snap,
                select(snap, names, all_models=False, channel=None),
                http,
                environ=ENV,
                concurrency=2,
                timeout_s=5,
            )
        finally:
            await http.aclose()
        return http.peak, sum(r.outcome == "usable" for r in report.results)

    peak, usable = asyncio.run(main())
    assert peak == 2
    assert usable == 7  # six channels over the fake, and answers' mock channel


def test_failing_models_are_public_active_ones_without_a_usable_channel(upstream, snap) -> None:
    fake, _ = upstream
    fake.push(500, model="up-helper")
    fake.push(500, model="up-shadowed")
    report = run(
        snap,
        select(
            snap,
            ["answers", "errors", "helper", "picture", "shadowed"],
            all_models=False,
            channel=None,
        ),
        environ=ENV,
    )
    # answers has a usable channel, helper is internal, picture was only skipped;
    # shadowed's usable channel is inactive, so it serves nobody.
    assert by_channel(report)["shadowed@mock"].outcome == "usable"
    assert report.failing_models == ("errors", "shadowed")
    assert report.exit_code == 1


def test_selection_by_alias_all_channel_and_its_errors() -> None:
    snap = Snapshot.from_dict(catalog("http://127.0.0.1:9/v1"))
    assert [t.channel.name for t in select(snap, [], all_models=False, channel="gone@fake")] == [
        "gone@fake"
    ]
    every = select(snap, [], all_models=True, channel=None)
    assert len(every) == len(snap.channels)
    inactive = select(snap, [], all_models=False, channel="shadowed@mock")
    report = run(snap, inactive, environ=ENV)
    assert report.results[0].outcome == "usable" and report.exit_code == 0
    for names, kw, message in (
        ([], {}, "name one or more models"),
        (["nope"], {}, "unknown model `nope`"),
        (["answers"], {"all_models": True}, "not both"),
        (["answers"], {"channel": "gone@fake"}, "serves none"),
        (["answers"], {"channel": "nope"}, "unknown channel"),
    ):
        with pytest.raises(ProbeSelectionError, match=message):
            select(snap, names, all_models=kw.get("all_models", False), channel=kw.get("channel"))


def test_transcription_probe_sends_a_fifth_of_a_second_of_silence() -> None:
    with wave.open(io.BytesIO(silent_wav()), "rb") as audio:
        assert audio.getnframes() / audio.getframerate() == pytest.approx(0.2)
        assert audio.readframes(audio.getnframes()).strip(b"\0") == b""
    snap = Snapshot.from_dict(
        snapshot_dict(
            providers=[provider("mock", protocol="mock")],
            models=[model("ears", type="transcription"), model("rt", type="realtime")],
            channels=[channel("ears@mock", "ears", "mock"), channel("rt@mock", "rt", "mock")],
        )
    )
    request = smallest_request(snap.models_by_name["ears"])
    assert request.endpoint == "audio.transcriptions"
    assert request.files["file"].content_type == "audio/wav"
    assert smallest_request(snap.models_by_name["rt"]).endpoint == "realtime"  # a session


# ----- the command -----


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(probe_command)
    app.command("noop")(lambda: None)  # two commands keep `probe` a named sub-command
    return app


def invoke(snapshot_file: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(
        cli_app(),
        ["probe", "--snapshot", str(snapshot_file), *args],
        env={"COLUMNS": "250", **(env if env is not None else ENV)},
    )


@pytest.fixture
def snapshot_file(upstream, tmp_path: Path) -> Path:
    fake, url = upstream
    script(fake)
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(catalog(url)))
    return path


def test_command_exits_0_when_every_public_model_probed_has_a_usable_channel(snapshot_file) -> None:
    result = invoke(snapshot_file, "answers", "embed", "picture")
    assert result.exit_code == 0, result.output
    assert "answers@fake" in result.output and "usable" in result.output
    assert "skipped" in result.output


def test_command_exits_1_when_a_public_model_has_no_usable_channel(snapshot_file) -> None:
    result = invoke(snapshot_file, "keyless", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert set(doc) == {"ok", "failing_models", "counts", "results"}
    assert doc["ok"] is False and doc["failing_models"] == ["keyless"]
    assert doc["counts"]["unavailable"] == 1
    assert set(doc["results"][0]) == {
        "model",
        "channel",
        "type",
        "provider",
        "protocol",
        "upstream_model",
        "channel_status",
        "outcome",
        "latency_ms",
        "code",
        "message",
    }
    assert "PROBE_MISSING_KEY" in doc["results"][0]["message"]


def test_command_markdown_is_a_job_summary_table(snapshot_file) -> None:
    result = invoke(snapshot_file, "errors", "--format", "markdown", "--timeout", "2")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "## Model probe"
    assert "**FAILED**: no usable channel: `errors`" in result.output
    assert any(
        line.startswith("| `errors` | `errors@fake` | fake | openai | up-errors | error |")
        for line in lines
    )


def test_command_bad_usage_exits_2(snapshot_file, tmp_path: Path) -> None:
    assert invoke(snapshot_file).exit_code == 2  # nothing chosen
    assert invoke(snapshot_file, "nope").exit_code == 2
    assert invoke(snapshot_file, "answers", "--catalog", str(tmp_path)).exit_code == 2
    assert invoke(tmp_path / "missing.json", "answers").exit_code == 2
    assert invoke(snapshot_file, "answers", "--format", "yaml").exit_code == 2
    result = invoke(snapshot_file, "answers", "--channel", "nope")
    assert result.exit_code == 2 and "unknown channel" in result.output


def test_a_protocol_without_adapter_is_unsupported_and_a_missing_extra_unavailable(
    monkeypatch,
) -> None:
    import gateway.proxy.probe as probe_module

    snap = Snapshot.from_dict(
        snapshot_dict(
            providers=[
                provider("new", protocol="dashscope", base_url="http://127.0.0.1:9/v1"),
                provider("aws", protocol="bedrock"),
            ],
            models=[model("m")],
            channels=[channel("m@new", "m", "new"), channel("m@aws", "m", "aws")],
        )
    )

    def missing(protocol: str):
        if protocol == "dashscope":
            raise ModuleNotFoundError("no module", name="gateway.proxy.adapters.dashscope")
        raise ModuleNotFoundError("no module", name="botocore")

    monkeypatch.setattr(probe_module, "adapter_class", missing)
    got = by_channel(run(snap, select(snap, ["m"], all_models=False, channel=None), environ={}))
    assert (got["m@new"].outcome, got["m@new"].code) == ("unsupported", "no_adapter")
    assert (got["m@aws"].outcome, got["m@aws"].code) == ("unavailable", "missing_extra")
    assert "pip install 'modelyard[bedrock]'" in got["m@aws"].message


def test_unreachable_upstream_is_an_error_and_a_foreign_variable_is_unavailable() -> None:
    from tests.upstreams.server import free_port

    snap = Snapshot.from_dict(
        snapshot_dict(
            settings={"env_prefixes": ["MODELYARD_"]},
            providers=[
                provider("closed", base_url=f"http://127.0.0.1:{free_port()}/v1"),
                provider(
                    "foreign",
                    base_url="http://127.0.0.1:9/v1",
                    auth={"type": "bearer", "token": "${OTHER_KEY}"},
                ),
            ],
            models=[model("m")],
            channels=[channel("m@closed", "m", "closed"), channel("m@foreign", "m", "foreign")],
        )
    )
    got = by_channel(
        run(
            snap,
            select(snap, ["m"], all_models=False, channel=None),
            environ={"OTHER_KEY": "value-never-shown"},
            timeout_s=5,
        )
    )
    assert (got["m@closed"].outcome, got["m@closed"].code) == ("error", "upstream_connect_error")
    assert got["m@foreign"].outcome == "unavailable"
    assert got["m@foreign"].code == "secret_not_allowed"
    assert got["m@foreign"].message == "OTHER_KEY is outside the allowed env prefixes (MODELYARD_)"


def test_other_protocols_are_probed_through_their_adapter_and_header_names_stay_readable() -> None:
    from tests.upstreams.anthropic import API_KEY, make_app
    from tests.upstreams.server import serve_asgi

    received: list[dict] = []
    with serve_asgi(make_app(received)) as url:
        snap = Snapshot.from_dict(
            snapshot_dict(
                providers=[
                    provider(
                        "claude",
                        protocol="anthropic",
                        base_url=url,
                        auth={
                            "type": "header",
                            "header": "x-api-key",
                            "value": "${ANTHROPIC_PROBE_KEY}",
                        },
                    )
                ],
                models=[model("m")],
                channels=[channel("m@claude", "m", "claude", upstream_model="claude-x")],
            )
        )
        targets = select(snap, ["m"], all_models=False, channel=None)
        good = run(snap, targets, environ={"ANTHROPIC_PROBE_KEY": API_KEY}).results[0]
        bad = run(snap, targets, environ={"ANTHROPIC_PROBE_KEY": "wrong-0123"}).results[0]
    assert good.outcome == "usable"
    assert received[0]["body"]["max_tokens"] == 1
    assert (bad.outcome, bad.code, bad.message) == ("error", "401", "401: invalid x-api-key")
