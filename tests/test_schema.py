"""Schema validation: located errors in our own words, and the schemas themselves kept sound."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from gateway.catalog.codes import CODES
from gateway.catalog.load import load_catalog
from gateway.catalog.schema import KIND_SCHEMAS, load_schemas, schema_dir, validate_documents

FIXTURES = Path(__file__).parent / "fixtures" / "schema"


@pytest.fixture(autouse=True)
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)


def check(name: str):
    docs, diags = load_catalog(Path(name))
    assert diags == []
    return validate_documents(docs)


def one(diags, code: str):
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, diags
    return found[0]


def test_every_schema_code_is_in_the_code_table():
    for code in [f"MY2{n:02d}" for n in range(1, 11)]:
        assert code in CODES


def test_a_valid_catalog_of_every_kind_passes():
    docs, diags = load_catalog(Path("valid.yaml"))
    assert {d.kind for d in docs} == set(KIND_SCHEMAS)
    assert diags == [] and validate_documents(docs) == []


def test_typo_in_a_field_is_located_with_did_you_mean():
    d = one(check("channel_typo.yaml"), "MY202")
    assert (d.file, d.line, d.col) == ("channel_typo.yaml", 6, 1)
    assert d.message == "unknown field 'weigth' in Channel"
    assert d.hint.startswith("did you mean 'weight'? allowed: ")


def test_unknown_kind_suggests_the_closest_kind():
    d = one(check("unknown_kind.yaml"), "MY201")
    assert (d.line, d.col) == (1, 1)
    assert "did you mean 'Channel'?" in d.hint and "PriceBook" in d.hint


def test_bad_enum_lists_the_allowed_values():
    d = one(check("bad_enum.yaml"), "MY205")
    assert d.line == 3
    assert d.message == (
        "'protocol' must be one of: openai, azure-openai, anthropic, bedrock, "
        "gemini, volcengine, dashscope, mock"
    )
    assert "did you mean 'openai'?" in d.hint


def test_wrong_type_and_out_of_range_are_located():
    diags = check("wrong_type.yaml")
    assert [(d.code, d.line, d.col, d.message) for d in diags] == [
        ("MY204", 6, 1, "'weight' must be an integer"),
        ("MY206", 8, 3, "'batch_size' must be an integer >= 1"),
    ]


def test_missing_required_field_is_named():
    d = one(check("missing_required.yaml"), "MY203")
    assert (d.line, d.col) == (1, 1)
    assert d.message == "missing required field 'upstream_model' in Channel"


def test_properties_are_checked_per_model_type():
    d = one(check("image_properties.yaml"), "MY202")
    assert (d.line, d.col) == (6, 3)
    assert (
        d.message == "unknown field 'context_tokens' in 'properties' of an image-generation model"
    )
    assert "sizes" in d.hint


def test_price_book_entries_are_shaped_by_model_type():
    shapes = [d for d in check("price_book_shapes.yaml") if d.code == "MY209"]
    assert [(d.line, d.col) for d in shapes] == [(5, 3), (9, 3), (15, 3)]
    assert shapes[0].message.startswith("a chat price needs 'input' and 'output'")
    assert shapes[1].message.startswith("an embedding price needs 'input'")
    assert "no 'output'" in shapes[1].message
    assert shapes[2].hint == "this one has unit per_million_tokens and input, output, characters"


def test_inline_channel_price_must_fit_its_unit():
    d = one(check("channel_price_shape.yaml"), "MY209")
    assert d.line == 6
    assert d.message.startswith("a price per_image needs 'images'")
    assert d.hint == "this one has input"


def test_provider_auth_shapes_follow_the_auth_type():
    diags = check("provider_auth.yaml")
    assert [(d.code, d.line, d.message) for d in diags] == [
        ("MY203", 5, "missing required field 'token' in 'auth'"),
        ("MY202", 7, "unknown field 'value' in 'auth'"),
        ("MY203", 12, "missing required field 'access_key_id' in 'auth'"),
        ("MY203", 12, "missing required field 'secret_access_key' in 'auth'"),
        ("MY205", 20, "'type' must be one of: bearer, basic, header, sigv4, none"),
    ]


def test_secret_looking_values_in_wrong_places_are_never_echoed():
    diags = check("secrets_misplaced.yaml")
    assert len(diags) >= 10
    for d in diags:
        text = d.text() + d.github()
        assert "SECRET" not in text and "sk-" not in text and "AKIA" not in text
        assert "AIza" not in text and "12345" not in text


def test_all_errors_of_a_document_are_reported_at_once():
    diags = check("secrets_misplaced.yaml")
    lines = {d.line for d in diags}
    assert {3, 4, 5, 6, 7, 13, 14, 15, 16, 17} <= lines


def test_schemas_are_found_next_to_the_package():
    assert {p.name for p in schema_dir().glob("*.json")} >= {*KIND_SCHEMAS.values(), "common.json"}


@pytest.mark.parametrize("uri", sorted(load_schemas()))
def test_each_schema_is_a_valid_draft_2020_12_schema(uri):
    schema = load_schemas()[uri]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert uri == f"https://modelyard.dev/schemas/{Path(uri).name}"
    jsonschema.Draft202012Validator.check_schema(schema)


def _described(schema, schemas, base) -> bool:
    """A property schema documents itself, or through the definition it references."""
    if not isinstance(schema, dict):
        return schema is True  # a `true` placeholder next to a referenced definition
    if "description" in schema:
        return True
    ref = schema.get("$ref")
    if not ref:
        return False
    file, _, pointer = ref.partition("#")
    target = schemas[f"https://modelyard.dev/schemas/{file}"] if file else base
    for part in pointer.strip("/").split("/"):
        target = target[part]
    return _described(target, schemas, target if file else base)


def _properties(node, where=""):
    """Every (where, name, schema) under a `properties` keyword, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    yield f"{where}/properties/{name}", name, schema
                    yield from _properties(schema, f"{where}/properties/{name}")
            else:
                yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{where}/{i}")


def test_every_property_of_every_schema_has_a_description():
    schemas = load_schemas()
    missing = [
        f"{Path(uri).name}#{where}"
        for uri, schema in schemas.items()
        for where, _, prop in _properties(schema)
        if not _described(prop, schemas, schema) and not _is_narrowing(where)
    ]
    assert missing == []


def _is_narrowing(where: str) -> bool:
    # if/then branches narrow a property already described next to them.
    return "/if/" in where or re.search(r"/then/properties/[^/]+$", where) is not None


def test_schema_files_are_plain_json_without_stray_keys():
    # A description split at commas once left keys such as `"text": null` behind.
    for path in schema_dir().glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert ": null" not in text, path.name
        json.loads(text)
