"""The smaller model-management pieces: speech channel defaults, the embedding batch default,
owner names, tags, `models show`, the circuit column, and name suggestions."""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from typer.testing import CliRunner

from cli.main import app
from gateway.catalog.compile import build
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    key_digest,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)
from tests.upstreams.media import FakeOpenAIMedia
from tests.upstreams.server import serve_asgi

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "sk-admin-0123456789"
runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


# --- speech defaults and the embedding batch default, through the proxy ---------------------


@pytest.fixture(scope="module")
def media() -> Iterator[tuple[str, FakeOpenAIMedia]]:
    fake = FakeOpenAIMedia()
    with serve_asgi(fake.app) as url:
        data = snapshot_dict(
            providers=[provider("up", base_url=f"{url}/v1"), provider("mock", protocol="mock")],
            models=[
                model(
                    "voice",
                    type="speech",
                    capabilities=[],
                    properties={"voices": {"narrator": "onyx"}},
                ),
                model("mock-voice", type="speech", capabilities=[]),
                model("bare-voice", type="speech", capabilities=[]),
                model("embed", type="embedding", capabilities=[]),
            ],
            channels=[
                channel(
                    "c-voice",
                    "voice",
                    "up",
                    upstream_model="up-tts",
                    options={"default_voice": "shimmer", "default_format": "wav"},
                ),
                channel(
                    "c-mock",
                    "mock-voice",
                    "mock",
                    upstream_model="mock-speech",
                    options={
                        "default_voice": "alloy",
                        "default_format": "wav",
                        "sample_rate": 16000,
                    },
                ),
                channel("c-bare", "bare-voice", "up", upstream_model="up-bare"),
                channel("c-embed", "embed", "up", upstream_model="up-embed"),
            ],
            consumers=[consumer("alice", KEY_ALICE)],
        )
        with running_proxy(data) as (proxy, _):
            yield proxy, fake


def test_speech_without_voice_or_format_takes_the_channels_defaults(media):
    url, fake = media
    client(url).audio.speech.create(model="voice", input="hello", voice=openai.NOT_GIVEN)  # type: ignore[arg-type]
    sent = fake.requests[-1]["body"]
    assert (sent["voice"], sent["response_format"]) == ("shimmer", "wav")
    client(url).audio.speech.create(
        model="voice", input="hello", voice="narrator", response_format="mp3"
    )
    sent = fake.requests[-1]["body"]
    assert (sent["voice"], sent["response_format"]) == ("onyx", "mp3")  # the client's win


def test_speech_sample_rate_default_reaches_the_audio(media):
    url, _ = media
    audio = client(url).audio.speech.create(
        model="mock-voice", input="hello there", voice=openai.NOT_GIVEN
    )  # type: ignore[arg-type]
    with wave.open(io.BytesIO(audio.content)) as reader:
        assert reader.getframerate() == 16000


def test_speech_without_voice_anywhere_is_a_400(media):
    url, fake = media
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as info:
        client(url).audio.speech.create(model="bare-voice", input="hi", voice=openai.NOT_GIVEN)  # type: ignore[arg-type]
    assert info.value.param == "voice" and len(fake.requests) == before


def test_embeddings_go_in_one_upstream_request_up_to_2048_inputs(media):
    url, fake = media
    answer = client(url).embeddings.create(model="embed", input=[f"t{i}" for i in range(2048)])
    assert len(answer.data) == 2048
    assert len(fake.requests_for("up-embed")[-1]["body"]["input"]) == 2048


# --- catalog views -------------------------------------------------------------------------


def test_tags_are_searched_and_filtered():
    by_search = json.loads(
        cli("models", "catalog", "--search", "retrieval", "--format", "json").stdout
    )
    assert {r["name"] for r in by_search} >= {"text-embedding-3-small", "text-embedding-3-large"}
    by_tag = json.loads(cli("models", "catalog", "--tag", "reasoning", "--format", "json").stdout)
    assert by_tag and all("reasoning" in r["tags"] for r in by_tag)


def test_models_show_gives_one_model_in_full():
    result = cli("models", "show", "chat-default", "catalog", "--format", "json")
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert detail["name"] == "gpt-4o-mini" and "tools" in detail["capabilities"]
    assert detail["properties"]["context_tokens"] == 128000
    shares = {c["name"]: c["route_share"] for c in detail["channels"]}
    assert shares == {
        "gpt-4o-mini@azure-openai": 1.0,
        "gpt-4o-mini@openai": 0.0,
        "gpt-4o-mini@mock": 0.0,
    }
    assert detail["channels"][1]["price"]["input"] == "0.15"
    table = cli("models", "show", "alice-finetune", "catalog").output
    assert "Alice Liddell" in table and "alice-finetune@mock" in table


def test_misspelt_names_get_the_closest_suggestion():
    for args in (("route", "gpt4o-mini"), ("models", "show", "gpt4o-mini", "catalog")):
        result = cli(*args)
        assert result.exit_code == 1
        assert "did you mean 'gpt-4o-mini'" in result.output


# --- live circuit state from a running proxy ----------------------------------------------


@pytest.fixture
def live(tmp_path) -> Iterator[tuple[Path, str, FakeOpenAIMedia]]:
    fake = FakeOpenAIMedia()
    with serve_asgi(fake.app) as url:
        (tmp_path / "catalog.yaml").write_text(f"""\
kind: Settings
name: settings
defaults:
  retry_budget: 0
  circuit_breaker: {{failure_threshold: 1, cooldown_s: 60, max_cooldown_s: 60}}
---
kind: Provider
name: up
protocol: openai
base_url: {url}/v1
auth: {{type: none}}
data_destination: overseas
---
kind: Model
name: chat
type: chat
owner: {{type: org, code: research, name: Research team}}
---
kind: Channel
name: chat@a
model: chat
provider: up
upstream_model: up-a
priority: high
price: {{currency: USD, unit: per_million_tokens, input: "1", output: "2"}}
---
kind: Channel
name: chat@b
model: chat
provider: up
upstream_model: up-b
priority: low
price: {{currency: USD, unit: per_million_tokens, input: "1", output: "2"}}
---
kind: Consumer
name: ops
owner: {{type: person, code: ops}}
key_sha256: [{key_digest(ADMIN_KEY)}]
scopes: [public, admin]
""")
        result = build(tmp_path)
        assert result.snapshot is not None, result.diagnostics
        with running_proxy(result.snapshot) as (proxy, _):
            yield tmp_path, proxy, fake


def test_models_show_and_list_carry_live_circuits(live):
    catalog, proxy, fake = live
    fake.push(503, model="up-a")
    sdk = client(proxy, ADMIN_KEY)
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    detail = json.loads(
        cli(
            "models",
            "show",
            "chat",
            str(catalog),
            "--proxy",
            proxy,
            "--key",
            ADMIN_KEY,
            "--format",
            "json",
        ).stdout
    )
    health = {c["name"]: (c["circuit"], c["success_rate"]) for c in detail["channels"]}
    assert health == {"chat@a": ("open", 0.0), "chat@b": ("closed", 1.0)}
    assert detail["owner"]["name"] == "Research team"
    listed = json.loads(
        cli("models", str(catalog), "--proxy", proxy, "--key", ADMIN_KEY, "--format", "json").stdout
    )
    assert [(r["name"], r["circuit"]) for r in listed] == [("chat", "partly open (1/2)")]
    table = cli("models", str(catalog), "--proxy", proxy, "--key", ADMIN_KEY).output
    assert "circuit" in table and "partly open" in table
