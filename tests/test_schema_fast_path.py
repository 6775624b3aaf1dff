"""The compiled fast check and jsonschema agree on every document, valid or broken."""

from pathlib import Path

from gateway.catalog.load import load_catalog
from gateway.catalog.schema import _fast_checks, _validators

ROOT = Path(__file__).resolve().parent.parent
WRONG_VALUES = (None, True, 0, -1, 1.5, "", "x", "${X}", [], ["x"], {}, {"type": "x"})


def _documents():
    docs = []
    for folder in (ROOT / "catalog", ROOT / "tests" / "fixtures"):
        found, _ = load_catalog(folder)
        docs.extend(found)
    return docs


def _variants(data):
    """The document itself, each key removed, and each top-level value replaced."""
    yield data
    for key in data:
        yield {k: v for k, v in data.items() if k != key}
        for wrong in WRONG_VALUES:
            yield {**data, key: wrong}
        value = data[key]
        if isinstance(value, dict):
            for inner in value:
                yield {**data, key: {k: v for k, v in value.items() if k != inner}}
                yield {**data, key: {**value, inner: None, "unknown_field": 1}}
                entry = value[inner]
                if isinstance(entry, dict):  # e.g. one PriceBook entry, or a provider's auth
                    for field in entry:
                        for wrong in WRONG_VALUES:
                            yield {**data, key: {**value, inner: {**entry, field: wrong}}}


def test_fast_check_agrees_with_jsonschema_on_catalog_and_fixture_mutations():
    fast, full = _fast_checks(), _validators()
    checked = disagreements = 0
    for doc in _documents():
        if doc.kind not in fast:
            continue
        for variant in _variants(dict(doc.data)):
            checked += 1
            if fast[doc.kind](variant) != full[doc.kind].is_valid(variant):
                disagreements += 1
                print(doc.file, doc.name, variant)
    assert checked > 5_000
    assert disagreements == 0


# Keywords that only draft 2019-09 / 2020-12 define: compiled as draft-07 they were ignored,
# so a document breaking them passed the fast path and was never explained.
DRAFT_2020_12_ONLY = [
    (
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        ["a", 1],
        ["a", "b"],
    ),
    ({"type": "array", "prefixItems": [{"type": "string"}], "items": False}, ["a"], ["a", 2]),
    (
        {"type": "object", "dependentRequired": {"unit": ["currency"]}},
        {"unit": "x", "currency": "USD"},
        {"unit": "x"},
    ),
    (
        {"type": "object", "dependentSchemas": {"unit": {"required": ["currency"]}}},
        {"unit": "x", "currency": "USD"},
        {"unit": "x"},
    ),
    (
        {
            "type": "object",
            "properties": {"a": {}},
            "allOf": [{"properties": {"b": {}}}],
            "unevaluatedProperties": False,
        },
        {"a": 1, "b": 2},
        {"a": 1, "c": 3},
    ),
    ({"type": "array", "contains": {"const": 1}, "minContains": 2}, [1, 1], [1, 2]),
]


def test_fast_path_checks_draft_2020_12_only_keywords():
    from gateway.catalog.schema import fast_check

    for schema, valid, invalid in DRAFT_2020_12_ONLY:
        check = fast_check(schema)
        assert check(valid), (schema, valid)
        assert not check(invalid), (schema, invalid)
