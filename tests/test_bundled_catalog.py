"""The bundled catalog in catalog/ is realistic, complete and answers offline."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from gateway.catalog.protocols import SERVES

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"
SCHEMA_OF_KIND = {
    "Settings": "settings.json",
    "Provider": "provider.json",
    "Model": "model.json",
    "Channel": "channel.json",
    "Capability": "capability.json",
    "NativeTool": "native-tool.json",
    "PriceBook": "price-book.json",
    "Consumer": "consumer.json",
}
KEY_LIKE = re.compile(
    r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{6,}|AKIA[0-9A-Z]{12,}|AIza[0-9A-Za-z_-]{20,}"
)


def _files() -> list[Path]:
    return sorted(p for p in CATALOG.rglob("*") if p.suffix in (".yaml", ".yml"))


def _load() -> dict[str, dict[str, dict[str, Any]]]:
    """kind -> name -> document, read straight from the YAML files."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in _files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            by_kind[doc["kind"]][doc["name"]] = doc
    return by_kind


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict[str, dict[str, Any]]]:
    return _load()


def _active(doc: dict[str, Any]) -> bool:
    return doc.get("status", "active") == "active"


def _channels_of(catalog: dict, model: str) -> list[dict[str, Any]]:
    return [c for c in catalog["Channel"].values() if c["model"] == model]


def test_catalog_has_models_of_every_served_type(catalog: dict) -> None:
    types = Counter(m["type"] for m in catalog["Model"].values())
    assert len(catalog["Model"]) >= 14
    assert types["chat"] >= 6
    assert types["embedding"] >= 2
    for kind in ("speech", "transcription", "image-generation"):
        assert types[kind] >= 1, kind
    # image edits come from an image-edit model or an image generation model with image_edit
    assert types["image-edit"] or any(
        "image_edit" in m.get("capabilities", ()) for m in catalog["Model"].values()
    )


def test_every_protocol_has_a_provider(catalog: dict) -> None:
    protocols = {p["protocol"] for p in catalog["Provider"].values()}
    assert protocols >= {
        "openai",
        "azure-openai",
        "anthropic",
        "bedrock",
        "volcengine",
        "dashscope",
        "gemini",
        "mock",
    }


def test_mock_provider_is_built_in_and_protected(catalog: dict) -> None:
    mock = catalog["Provider"]["mock"]
    assert mock["protocol"] == "mock"
    assert mock["auth"] == {"type": "none"}
    assert mock["data_destination"] == "protected"


def test_every_active_model_has_an_active_low_priority_mock_channel(catalog: dict) -> None:
    mock_providers = {n for n, p in catalog["Provider"].items() if p["protocol"] == "mock"}
    for name, model in catalog["Model"].items():
        if not _active(model):
            continue
        mocks = [
            c for c in _channels_of(catalog, name) if c["provider"] in mock_providers and _active(c)
        ]
        assert mocks, f"{name} has no active mock channel"
        assert all(c["priority"] == "low" for c in mocks), name


def test_some_models_spread_over_several_priority_classes_and_weights(catalog: dict) -> None:
    spread = []
    for name in catalog["Model"]:
        real = [c for c in _channels_of(catalog, name) if c["provider"] != "mock"]
        weights = {c.get("weight", 1) for c in real if c.get("priority") == "high"}
        if len(real) >= 2 and len(weights) >= 2:
            spread.append(name)
    assert len(spread) >= 2, spread


def test_visibility_variety_with_owners(catalog: dict) -> None:
    by_visibility = defaultdict(list)
    for model in catalog["Model"].values():
        by_visibility[model.get("visibility", "public")].append(model)
    assert any(m["owner"]["type"] == "org" for m in by_visibility["protected"])
    assert any(m["owner"]["type"] == "person" for m in by_visibility["private"])
    assert by_visibility["internal"]


def test_private_model_has_a_channel_owned_by_its_owner(catalog: dict) -> None:
    for model in catalog["Model"].values():
        if model.get("visibility") == "private":
            owners = [c.get("owner") for c in _channels_of(catalog, model["name"])]
            assert model["owner"] in owners, model["name"]


def test_internal_tasks_name_internal_models(catalog: dict) -> None:
    (settings,) = catalog["Settings"].values()
    tasks = settings["internal_tasks"]
    assert {"title_generation", "summary"} <= set(tasks)
    for model in tasks.values():
        assert catalog["Model"][model]["visibility"] == "internal"


def test_channels_reference_existing_models_and_capable_providers(catalog: dict) -> None:
    for channel in catalog["Channel"].values():
        model = catalog["Model"][channel["model"]]
        provider = catalog["Provider"][channel["provider"]]
        assert model["type"] in SERVES[provider["protocol"]], channel["name"]


def test_models_reference_vocabulary_that_applies_to_their_type(catalog: dict) -> None:
    for model in catalog["Model"].values():
        for cap in model.get("capabilities", ()):
            assert model["type"] in catalog["Capability"][cap]["applies_to"], (model["name"], cap)
        for tool in model.get("native_tools", ()):
            assert model["type"] in catalog["NativeTool"][tool]["applies_to"], (model["name"], tool)


def test_every_channel_of_a_public_model_has_a_price_of_its_type(catalog: dict) -> None:
    books = catalog["PriceBook"].values()
    for channel in catalog["Channel"].values():
        model = catalog["Model"][channel["model"]]
        if model.get("visibility", "public") != "public" or "price" in channel:
            continue
        entries = [
            b["prices"][channel["upstream_model"]]
            for b in books
            if b["provider"] == channel["provider"] and channel["upstream_model"] in b["prices"]
        ]
        assert entries, f"{channel['name']} has no price"
        assert all(e["type"] == model["type"] for e in entries), channel["name"]


def test_aliases_are_unique_and_never_shadow_a_model(catalog: dict) -> None:
    aliases = [a for m in catalog["Model"].values() for a in m.get("aliases", ())]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(catalog["Model"])
    assert {"chat-default", "claude-sonnet", "embedding-default"} <= set(aliases)


def test_consumer_keys_are_sha256_digests_only(catalog: dict) -> None:
    assert {"demo", "ops", "alice"} <= set(catalog["Consumer"])
    for consumer in catalog["Consumer"].values():
        for digest in consumer["key_sha256"]:
            assert re.fullmatch(r"[0-9a-f]{64}", digest), consumer["name"]
    assert any(c.get("max_data_destination") == "mainland" for c in catalog["Consumer"].values())


def test_secrets_are_env_references_and_nothing_looks_like_a_provider_key(catalog: dict) -> None:
    for provider in catalog["Provider"].values():
        for key, value in provider.get("auth", {}).items():
            if key in ("token", "password", "value", "access_key_id", "secret_access_key"):
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", value), provider["name"]
    for path in _files():
        assert not KEY_LIKE.search(path.read_text(encoding="utf-8")), path


def test_single_kind_files_name_their_schema_on_the_first_line() -> None:
    for path in _files():
        text = path.read_text(encoding="utf-8")
        kinds = {doc["kind"] for doc in yaml.safe_load_all(text)}
        if len(kinds) != 1:
            continue
        depth = len(path.relative_to(CATALOG).parts)
        want = (
            f"# yaml-language-server: $schema={'../' * depth}schemas/{SCHEMA_OF_KIND[kinds.pop()]}"
        )
        assert text.splitlines()[0] == want, path


def test_every_document_matches_the_schema_of_its_kind() -> None:
    registry: Registry = Registry()
    schemas = {}
    for path in (ROOT / "schemas").glob("*.json"):
        schemas[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        registry = registry.with_resource(
            f"https://modelyard.dev/schemas/{path.name}", Resource.from_contents(schemas[path.name])
        )
    problems = []
    for path in _files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            validator = Draft202012Validator(
                schemas[SCHEMA_OF_KIND[doc["kind"]]], registry=registry
            )
            problems += [
                f"{path.name} {doc['name']}: {e.message}" for e in validator.iter_errors(doc)
            ]
    assert problems == []


def _build() -> Any:
    compile_module = pytest.importorskip(
        "gateway.catalog.compile", reason="the catalog compiler is not in this tree yet"
    )
    return compile_module.build(CATALOG, strict=True)


def test_bundled_catalog_validates_with_no_diagnostics_even_under_strict() -> None:
    result = _build()
    assert [d.text() for d in result.diagnostics] == []
    assert result.snapshot is not None


def test_compiled_routing_order_puts_the_mock_channel_last() -> None:
    from gateway.catalog.snapshot import Snapshot

    snapshot = Snapshot.from_dict(_build().snapshot)
    for model in snapshot.models:
        if model.status != "active":
            continue
        channels = snapshot.channels_of(model)
        assert channels[-1].protocol == "mock", model.name
        assert channels[0].protocol != "mock", f"{model.name} has no real channel before mock"
