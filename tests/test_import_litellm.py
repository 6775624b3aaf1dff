"""Importing the LiteLLM price map: exact prices, mapped types and capabilities, clean output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from gateway.catalog.compile import build
from gateway.review import review_snapshots
from gateway.review.importers.litellm import import_litellm, money, sanitize
from gateway.review.importers.yamlout import write_files
from tests.review_support import FIXTURES, compiled

OLD = json.loads((FIXTURES / "litellm-old.json").read_text())
NEW = json.loads((FIXTURES / "litellm-new.json").read_text())
REPO = Path(__file__).resolve().parent.parent


def imported(tmp_path: Path, data=OLD, name="out", **options) -> Path:
    out = tmp_path / name
    write_files(import_litellm(data, **options).files, out)
    return out


def docs_of(root: Path) -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[(doc["kind"], doc["name"])] = doc
    return found


@pytest.mark.parametrize(
    ("value", "scale", "expected"),
    [
        (2.5e-06, 1_000_000, "2.5"),
        (1.25e-07, 1_000_000, "0.125"),
        (3e-05, 1_000_000, "30"),
        (1e-05, 1, "0.00001"),
        (0.0, 1_000_000, "0"),
        ("4e-07", 1_000_000, "0.4"),
        (-1, 1, None),
        ("n/a", 1, None),
        (None, 1, None),
    ],
)
def test_money_is_exact_and_without_exponent(value, scale, expected):
    assert money(value, scale) == expected


def test_names_are_sanitised_to_the_schema_pattern():
    assert sanitize("us.anthropic.claude-3-5:0") == "us.anthropic.claude-3-5:0"
    assert sanitize("_odd name (beta)") == "odd-name-beta-"
    assert len(sanitize("x" * 300)) == 128


def test_price_books_carry_exact_per_million_prices(tmp_path):
    docs = docs_of(imported(tmp_path, providers=["openai"]))
    prices = docs[("PriceBook", "openai-litellm")]["prices"]
    assert prices["gpt-4o"] == {
        "type": "chat",
        "unit": "per_million_tokens",
        "input": "2.5",
        "cached_input": "1.25",
        "output": "10",
    }
    assert prices["text-embedding-3-small"] == {
        "type": "embedding",
        "unit": "per_million_tokens",
        "input": "0.02",
    }
    assert prices["tts-1"] == {
        "type": "speech",
        "unit": "per_million_characters",
        "characters": "15",
    }
    assert prices["whisper-1"] == {"type": "transcription", "unit": "per_second", "audio": "0.0001"}
    assert prices["sora-2"] == {"type": "video-generation", "unit": "per_second", "video": "0.1"}
    assert prices["gpt-image-1.5"]["images"] == {"1024x1024": {"high": "0.133", "low": "0.009"}}
    assert set(docs) == {("PriceBook", "openai-litellm")}  # no drafts without --with-models


def test_image_size_and_quality_come_from_the_key(tmp_path):
    docs = docs_of(imported(tmp_path, providers=["azure"]))
    images = docs[("PriceBook", "azure-litellm")]["prices"]["dall-e-3"]["images"]
    # azure prices dall-e-3 per pixel: the price per image is that times the size
    assert images == {
        "1024x1024": {
            "hd": money(8.39233e-08, 1024 * 1024),
            "standard": money(4.19617e-08, 1024 * 1024),
        }
    }


def test_modes_map_to_types_and_flags_to_capabilities(tmp_path):
    docs = docs_of(imported(tmp_path, providers=["openai", "anthropic"], with_models=True))
    gpt = docs[("Model", "gpt-4o")]
    assert gpt["type"] == "chat"
    assert gpt["capabilities"] == [
        "image_input",
        "json_schema",
        "parallel_tool_calls",
        "streaming",
        "tools",
    ]
    assert gpt["properties"] == {"max_input_tokens": 128000, "max_output_tokens": 16384}
    assert docs[("Model", "tts-1")]["type"] == "speech"
    assert docs[("Model", "whisper-1")]["type"] == "transcription"
    assert docs[("Model", "sora-2")]["type"] == "video-generation"
    assert docs[("Model", "gpt-image-1.5")]["type"] == "image-generation"
    assert docs[("Model", "text-embedding-3-small")]["type"] == "embedding"
    channel = docs[("Channel", "gpt-4o@openai")]
    assert (channel["provider"], channel["upstream_model"]) == ("openai", "gpt-4o")
    assert docs[("Provider", "anthropic")]["auth"] == {
        "type": "header",
        "header": "x-api-key",
        "value": "${ANTHROPIC_API_KEY}",
    }
    assert ("Capability", "reasoning") in docs


def test_skipped_modes_and_duplicates_are_counted(tmp_path):
    summary = import_litellm(OLD, with_models=True).summary
    assert summary["skipped mode moderation"] == 1
    assert summary["skipped mode rerank"] == 1
    assert summary["skipped duplicate upstream model"] == 1  # sora-2 and openai/sora-2


def test_output_validates_clean(tmp_path):
    out = imported(tmp_path, with_models=True)
    result = build(out)
    assert result.snapshot is not None
    assert [d.text() for d in result.diagnostics] == []


def test_price_books_fit_an_existing_catalog_through_the_provider_map(tmp_path):
    catalog = shutil.copytree(REPO / "catalog", tmp_path / "catalog")
    before = build(catalog).diagnostics
    write_files(
        import_litellm(OLD, providers=["azure"], provider_map={"azure": "azure-openai"}).files,
        catalog / "imported",
    )
    assert build(catalog).diagnostics == before
    assert (
        docs_of(catalog / "imported")[("PriceBook", "azure-openai-litellm")]["provider"]
        == "azure-openai"
    )


def test_output_is_deterministic_with_schema_lines():
    first = import_litellm(OLD, with_models=True, schema_root="../schemas")
    second = import_litellm(
        dict(reversed(list(OLD.items()))), with_models=True, schema_root="../schemas"
    )
    assert first.files == second.files
    assert first.files["models/openai.yaml"].startswith(
        "# yaml-language-server: $schema=../../schemas/model.json\n"
    )
    assert first.files["capabilities.yaml"].startswith(
        "# yaml-language-server: $schema=../schemas/capability.json\n"
    )


def test_drafts_are_inactive_and_unlisted_unless_asked_for_active(tmp_path):
    docs = docs_of(imported(tmp_path, with_models=True))
    assert {(d["status"], d["visibility"]) for (kind, _), d in docs.items() if kind == "Model"} == {
        ("inactive", "internal")
    }
    active = docs_of(imported(tmp_path, name="active", with_models=True, active=True))
    assert (active[("Model", "gpt-4o")]["status"], active[("Model", "gpt-4o")]["visibility"]) == (
        "active",
        "public",
    )


def test_drafts_name_their_vendor_and_provider(tmp_path):
    docs = docs_of(imported(tmp_path, with_models=True))
    azure = docs[("Model", "azure/gpt-4o-mini")]
    assert (azure["vendor"], azure["display_name"]) == ("OpenAI", "gpt-4o-mini (azure)")
    assert docs[("Model", "claude-haiku-4-5")]["vendor"] == "Anthropic"


def test_conflicting_duplicate_entries_are_named():
    assert import_litellm(OLD, with_models=True).conflicts == []  # sora-2 twice, same prices
    data = {**OLD, "openai/gpt-4o": {**OLD["gpt-4o"], "input_cost_per_token": 3e-06}}
    (conflict,) = import_litellm(data, with_models=True).conflicts
    assert conflict.startswith("openai/gpt-4o: same upstream model as 'gpt-4o'")


def test_reimport_prunes_files_and_reports_models_gone_from_the_map(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(OLD))
    new.write_text(
        json.dumps(
            {
                k: v
                for k, v in NEW.items()
                if (v.get("litellm_provider") if isinstance(v, dict) else "") != "anthropic"
            }
        )
    )
    out = tmp_path / "imported"
    runner = CliRunner()
    first = runner.invoke(
        app,
        [
            "import",
            "litellm",
            str(old),
            "--with-models",
            "-o",
            str(out),
            "--map-version",
            "litellm 1.109.1",
        ],
    )
    assert first.exit_code == 0, first.output
    assert (out / "models" / "anthropic.yaml").is_file()
    second = runner.invoke(app, ["import", "litellm", str(new), "--with-models", "-o", str(out)])
    assert second.exit_code == 0, second.output
    assert not (out / "models" / "anthropic.yaml").exists()
    assert "pruned models/anthropic.yaml: no longer in the map" in second.output
    assert "model o3-mini: no longer in the map, removed" in second.output
    assert "previous import: litellm 1.109.1" in second.output
    assert "sha256:" in docs_of(out)[("PriceBook", "openai-litellm")]["source"]
    assert build(out).snapshot is not None


def test_unpriced_entries_become_inactive_internal_drafts(tmp_path):
    data = {
        "priced": {
            "litellm_provider": "openai",
            "mode": "chat",
            "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06,
        },
        "unpriced": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 10},
    }
    out = imported(tmp_path, data, with_models=True, active=True)
    docs = docs_of(out)
    assert (docs[("Model", "priced")]["status"], docs[("Model", "priced")]["visibility"]) == (
        "active",
        "public",
    )
    assert (docs[("Model", "unpriced")]["status"], docs[("Model", "unpriced")]["visibility"]) == (
        "inactive",
        "internal",
    )
    assert build(out).diagnostics == ()


def test_a_newer_map_shows_price_changes_through_diff(tmp_path):
    old = compiled(
        imported(tmp_path, OLD, "old", providers=["openai"], with_models=True, active=True)
    )
    new = compiled(
        imported(tmp_path, NEW, "new", providers=["openai"], with_models=True, active=True)
    )
    review = review_snapshots(old, new)
    pricing = {f.name: f.detail["amounts"] for f in review.of("pricing")}
    assert pricing["gpt-4o@openai"] == [
        {"amount": "input", "before": "2.5", "after": "2.75", "change_percent": "+10"}
    ]
    assert pricing["gpt-4o-mini@openai"] == [
        {"amount": "output", "before": "0.6", "after": "0.5", "change_percent": "-16.67"}
    ]
    assert ("model", "o3-mini") in [(f.kind, f.name) for f in review.of("breaking")]
    assert "gpt-4.1-mini@openai" in pricing  # a new channel shows its price
