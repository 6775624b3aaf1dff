"""The compiled snapshot: deterministic bytes, defaults, resolved prices, routing order."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalog.compile import (
    amount,
    build,
    compile_documents,
    snapshot_bytes,
    write_snapshot,
)
from gateway.catalog.load import load_catalog
from gateway.catalog.snapshot import Snapshot

REPO = Path(__file__).resolve().parent.parent
BASE = Path(__file__).parent / "fixtures" / "catalogs" / "base"
BUNDLED = REPO / "catalog"


def documents_of(root: Path) -> list[str]:
    """Every YAML document of a catalog as text, comments and schema hints included."""
    docs = []
    for path in sorted(root.rglob("*.yaml")):
        docs += [d for d in re.split(r"^---\s*$", path.read_text(), flags=re.M) if "kind:" in d]
    return docs


def relaid(docs: list[str], dest: Path, seed: int, per_file: int) -> Path:
    """The same documents shuffled into other files, folders and order."""
    docs = docs[:]
    random.Random(seed).shuffle(docs)
    for i in range(0, len(docs), per_file):
        path = dest / f"part{seed}" / f"dir{i % 3}" / f"f{len(docs) - i}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n---\n".join(docs[i : i + per_file]))
    return dest


def compiled(root: Path) -> bytes:
    result = build(root)
    assert result.snapshot is not None, [d.text() for d in result.diagnostics]
    return snapshot_bytes(result.snapshot)


@pytest.mark.parametrize("source", [BASE, BUNDLED], ids=["base", "bundled"])
def test_shuffled_and_split_files_give_byte_identical_snapshots(source, tmp_path):
    expected = compiled(source)
    docs = documents_of(source)
    for seed, per_file in ((1, 1), (2, 3), (3, len(docs))):
        assert compiled(relaid(docs, tmp_path / str(seed), seed, per_file)) == expected


def test_one_field_change_changes_the_digest(tmp_path):
    root = shutil.copytree(BASE, tmp_path / "catalog")
    before = build(root).snapshot
    models = root / "models.yaml"
    models.write_text(models.read_text().replace("order: 20", "order: 21"))
    after = build(root).snapshot
    assert before["digest"] != after["digest"]
    assert {k for k in before if before[k] != after[k]} == {"models", "digest"}


def test_snapshot_round_trips_through_snapshot_from_dict(tmp_path):
    body = build(BASE).snapshot
    write_snapshot(body, tmp_path / "snapshot.json")
    snap = Snapshot.from_bytes((tmp_path / "snapshot.json").read_bytes())
    assert snap.digest == body["digest"]
    assert [m.name for m in snap.models] == ["gpt-4o", "claude", "embed", "team-model", "titler"]
    assert snap.resolve_name("flagship").name == "gpt-4o"
    assert [c.name for c in snap.channels_of(snap.models_by_name["gpt-4o"])] == [
        "gpt-4o@openai",
        "gpt-4o@mock",
    ]
    assert snap.channels["claude@anthropic"].price.amounts["output"] == 15
    assert snap.consumers_by_key[body["consumers"][0]["key_sha256"][0]].name == "app"
    assert snap.settings.internal_tasks == {"title_generation": "titler"}


def test_snapshot_has_exactly_the_keys_of_the_snapshot_format():
    body = build(BASE).snapshot
    assert set(body) == {
        "schema_version",
        "digest",
        "settings",
        "providers",
        "capabilities",
        "native_tools",
        "models",
        "channels",
        "aliases",
        "consumers",
    }
    assert set(body["settings"]) == {
        "system_prompt",
        "currency",
        "connect_timeout_s",
        "first_byte_timeout_s",
        "total_timeout_s",
        "retry_budget",
        "max_request_bytes",
        "breaker",
        "env_prefixes",
        "internal_tasks",
    }
    assert set(body["providers"]["openai"]) == {
        "name",
        "protocol",
        "base_url",
        "auth",
        "data_destination",
        "headers",
    }
    assert set(body["models"][0]) == {
        "name",
        "display_name",
        "vendor",
        "description",
        "docs_url",
        "type",
        "status",
        "visibility",
        "owner",
        "order",
        "aliases",
        "tags",
        "properties",
        "capabilities",
        "native_tools",
        "system_prompt",
        "channels",
    }
    assert set(body["channels"]["gpt-4o@openai"]) == {
        "name",
        "model",
        "provider",
        "protocol",
        "upstream_model",
        "priority",
        "weight",
        "status",
        "data_destination",
        "owner",
        "options",
        "price",
        "price_source",
    }
    assert set(body["consumers"][0]) == {
        "name",
        "status",
        "key_sha256",
        "owner",
        "orgs",
        "scopes",
        "max_data_destination",
        "models",
    }
    assert set(body["native_tools"]["web_search"]) == {
        "name",
        "description",
        "applies_to",
        "spellings",
        "price_per_call",
        "currency",
    }


def test_defaults_are_applied():
    body = build(BASE).snapshot
    embed = next(m for m in body["models"] if m["name"] == "embed")
    assert (embed["status"], embed["visibility"], embed["order"], embed["display_name"]) == (
        "active",
        "public",
        1000,
        "embed",
    )
    assert embed["owner"] == {"type": "system", "code": "platform"}
    ch = body["channels"]["embed@openai"]
    assert (ch["priority"], ch["weight"], ch["status"], ch["owner"]) == (
        "normal",
        1,
        "active",
        None,
    )
    assert body["settings"]["breaker"] == {
        "failure_threshold": 5,
        "cooldown_s": 30,
        "max_cooldown_s": 300,
    }
    assert body["providers"]["mock"]["auth"] == {"type": "none"}
    assert body["consumers"][0]["scopes"] == ["public"]


def test_data_destination_comes_from_channel_then_provider_then_overseas(tmp_path):
    root = shutil.copytree(BASE, tmp_path / "catalog")
    channels = root / "channels.yaml"
    channels.write_text(
        channels.read_text().replace(
            "upstream_model: text-embedding-3-small",
            "upstream_model: text-embedding-3-small\ndata_destination: mainland",
        )
    )
    body = build(root).snapshot
    assert body["channels"]["embed@openai"]["data_destination"] == "mainland"
    assert body["channels"]["gpt-4o@mock"]["data_destination"] == "protected"
    assert body["channels"]["gpt-4o@openai"]["data_destination"] == "overseas"


def test_prices_resolve_to_exact_decimal_strings_with_their_source():
    channels = build(BASE).snapshot["channels"]
    assert channels["gpt-4o@openai"]["price"] == {
        "currency": "USD",
        "unit": "per_million_tokens",
        "input": "2.50",
        "cached_input": "1.25",
        "output": "10",
    }
    assert channels["gpt-4o@openai"]["price_source"] == "book:openai-list"
    assert channels["claude@anthropic"]["price_source"] == "book:anthropic-list"
    assert channels["gpt-4o@mock"]["price_source"] == "inline"
    assert (
        channels["titler@mock"]["price"] is None and channels["titler@mock"]["price_source"] is None
    )


@pytest.mark.parametrize(
    ("written", "exact"),
    [
        (2.5e-06, "0.0000025"),
        (0.0025, "0.0025"),
        ("0.50", "0.50"),
        (3, "3"),
        (1e-10, "0.0000000001"),
    ],
)
def test_amounts_are_decimal_strings_without_exponent(written, exact):
    assert amount(written) == exact


def test_price_currency_is_inline_then_book_then_settings(tmp_path):
    root = shutil.copytree(BASE, tmp_path / "catalog")
    (root / "settings.yaml").write_text(
        (root / "settings.yaml").read_text().replace("currency: USD", "currency: EUR")
    )
    (root / "prices.yaml").write_text(
        (root / "prices.yaml").read_text().replace("currency: USD", "currency: GBP")
    )
    (root / "channels.yaml").write_text(
        (root / "channels.yaml")
        .read_text()
        .replace("input: 0, output: 0}", "input: 0, output: 0, currency: JPY}")
    )
    channels = build(root).snapshot["channels"]
    assert channels["gpt-4o@mock"]["price"]["currency"] == "JPY"
    assert channels["claude@anthropic"]["price"]["currency"] == "GBP"
    assert channels["gpt-4o@openai"]["price"]["currency"] == "EUR"


def test_channels_are_in_static_routing_order(tmp_path):
    root = shutil.copytree(BASE, tmp_path / "catalog")
    extra = "".join(
        f"---\nkind: Channel\nname: {n}\nmodel: gpt-4o\nprovider: mock\nupstream_model: m\n"
        f"priority: {p}\nweight: {w}\nprice: {{unit: per_million_tokens, input: 0, output: 0}}\n"
        for n, p, w in (
            ("b", "normal", 1),
            ("a", "normal", 1),
            ("c", "normal", 5),
            ("d", "high", 1),
        )
    )
    (root / "more.yaml").write_text(extra)
    model = build(root).snapshot["models"][0]
    assert model["channels"] == ["gpt-4o@openai", "d", "c", "a", "b", "gpt-4o@mock"]


def test_secrets_stay_environment_references():
    body = build(BASE).snapshot
    assert body["providers"]["openai"]["auth"] == {"type": "bearer", "token": "${OPENAI_API_KEY}"}


def test_no_snapshot_on_errors_or_on_warnings_under_strict(tmp_path):
    root = shutil.copytree(BASE, tmp_path / "catalog")
    (root / "warn.yaml").write_text(
        "kind: Channel\nname: x\nmodel: claude\nprovider: mock\nupstream_model: m\n"
    )
    lenient, strict = build(root), build(root, strict=True)
    assert [d.code for d in lenient.diagnostics] == ["MY412"] and lenient.snapshot is not None
    assert strict.snapshot is None
    (root / "err.yaml").write_text(
        "kind: Channel\nname: y\nmodel: nope\nprovider: mock\nupstream_model: m\n"
    )
    assert build(root).snapshot is None


def test_write_snapshot_replaces_the_file_and_leaves_no_temporary(tmp_path):
    body = build(BASE).snapshot
    target = tmp_path / "snapshot.json"
    target.write_text("old")
    write_snapshot(body, target)
    assert target.read_bytes() == snapshot_bytes(body)
    assert json.loads(target.read_bytes())["digest"] == body["digest"]
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.randoms(use_true_random=False))
def test_document_order_never_changes_the_compiled_bytes(rnd):
    docs, _ = load_catalog(BASE)
    expected = snapshot_bytes(compile_documents(docs))
    rnd.shuffle(docs)
    assert snapshot_bytes(compile_documents(docs)) == expected


def test_the_public_api_exports_the_pipeline():
    import gateway

    assert set(gateway.__all__) == set(gateway._EXPORTS)
    assert gateway.build is build and gateway.compile_documents is compile_documents
    assert all(getattr(gateway, name) is not None for name in gateway.__all__)
