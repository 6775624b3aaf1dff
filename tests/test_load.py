"""The loader: YAML files to located documents, and every refusal with its file, line and code."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from gateway.catalog.codes import CODES
from gateway.catalog.load import load_catalog
from gateway.catalog.yaml_aliases import MAX_ALIAS_EXPANSION
from gateway.catalog.yaml_tree import MAX_DEPTH
from gateway.diagnostics import ERROR

FIXTURES = Path(__file__).parent / "fixtures" / "load"


@pytest.fixture
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the fixture folder, so files show as plain names."""
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


def load_one(name: str):
    docs, diags = load_catalog(Path(name))
    return docs, diags


def only(diags, code: str):
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, diags
    assert found[0].severity == ERROR and found[0].hint, found[0]
    return found[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_loader_code_is_in_the_code_table():
    for code in [f"MY1{n:02d}" for n in range(0, 12)]:
        assert code in CODES


def test_multi_document_file_gives_each_document_and_skips_empty_ones(in_fixtures):
    docs, diags = load_one("multi.yaml")
    assert diags == []
    assert [(d.kind, d.name, d.file, d.line, d.col) for d in docs] == [
        ("Provider", "first", "multi.yaml", 2, 1),
        ("Model", "second", "multi.yaml", 6, 1),
    ]
    assert docs[1].data["aliases"] == ["two", "deux"]


def test_positions_cover_nested_keys_and_list_items(in_fixtures):
    model = load_one("multi.yaml")[0][1]
    assert model.positions[("aliases",)] == (9, 1)
    assert model.positions[("aliases", 0)] == (10, 5)
    assert model.positions[("aliases", 1)] == (11, 5)
    assert model.positions[("properties", "context_tokens")] == (13, 3)
    assert model.positions[("owner", "code")] == (14, 23)
    assert model.locate(("owner", "code", "missing")) == (14, 23)


def test_positions_exist_for_every_node_path(in_fixtures):
    model = load_one("multi.yaml")[0][1]

    def paths(value, prefix=()):
        yield prefix
        items = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else ()
        )
        for key, item in items:
            yield from paths(item, (*prefix, key))

    assert set(paths(dict(model.data))) == set(model.positions)


def test_scalars_resolve_as_safe_load_does_except_dates_and_keys(in_fixtures):
    doc = load_one("scalars.yaml")[0][0]
    reference = yaml.safe_load((FIXTURES / "scalars.yaml").read_text())
    for key in (
        "int",
        "octal",
        "hex",
        "float",
        "exp",
        "yes_bool",
        "true_bool",
        "null_value",
        "empty",
        "quoted_number",
        "version",
        "text",
    ):
        assert doc.data[key] == reference[key] and type(doc.data[key]) is type(reference[key])
    assert doc.data["date"] == "2024-01-01"
    assert doc.data["on"] == "key kept as written"


def test_anchors_and_merge_keys_keep_working(in_fixtures):
    docs, diags = load_one("anchors.yaml")
    assert diags == []
    data = docs[0].data
    assert data["options"] == {"priority": "normal", "weight": 5}
    assert data["copy"] == {"priority": "normal", "weight": 2}
    # Merged keys point at where they were written; explicit keys at themselves.
    assert docs[0].positions[("options", "priority")] == (4, 3)
    assert docs[0].positions[("options", "weight")] == (8, 3)


def test_duplicate_key_is_refused_at_the_second_naming_the_first(in_fixtures):
    docs, diags = load_one("duplicate_keys.yaml")
    d = only(diags, "MY103")
    assert (d.file, d.line, d.col) == ("duplicate_keys.yaml", 7, 3)
    assert "'context_tokens'" in d.message and "line 5" in d.message


def test_non_utf8_file_is_refused_with_its_byte_offset(in_fixtures):
    docs, diags = load_one("latin1.yaml")
    d = only(diags, "MY101")
    assert (d.file, d.line, d.col) == ("latin1.yaml", 2, 10)
    assert "byte offset 21" in d.message
    assert docs == []


def test_yaml_syntax_error_is_located(in_fixtures):
    docs, diags = load_one("syntax_error.yaml")
    d = only(diags, "MY102")
    assert (d.file, d.line) == ("syntax_error.yaml", 4)


def test_document_that_is_not_a_mapping_is_refused(in_fixtures):
    d = only(load_one("not_a_mapping.yaml")[1], "MY104")
    assert (d.file, d.line, d.col) == ("not_a_mapping.yaml", 1, 1)


def test_documents_without_string_kind_or_name_are_refused(in_fixtures):
    docs, diags = load_one("no_name.yaml")
    assert docs == []
    assert [(d.code, d.line, d.message) for d in sorted(diags)] == [
        ("MY105", 1, "document 'name' is missing"),
        ("MY105", 5, "document 'name' is not a string"),
    ]


@pytest.mark.parametrize("name, line, col", [("python_tag.yaml", 3, 7), ("custom_tag.yaml", 3, 7)])
def test_unknown_yaml_tags_are_refused(in_fixtures, name, line, col):
    docs, diags = load_one(name)
    d = only(diags, "MY106")
    assert (d.file, d.line, d.col) == (name, line, col)
    assert docs == []


def test_billion_laughs_is_refused_quickly(in_fixtures):
    started = time.perf_counter()
    docs, diags = load_one("billion_laughs.yaml")
    assert time.perf_counter() - started < 1.0
    d = only(diags, "MY111")
    assert d.file == "billion_laughs.yaml" and 3 <= d.line <= 11
    assert str(MAX_ALIAS_EXPANSION) in d.message
    assert docs == []


def test_recursive_alias_is_refused(in_fixtures):
    d = only(load_one("recursive_alias.yaml")[1], "MY111")
    assert (d.file, d.line) == ("recursive_alias.yaml", 3)


def test_deep_flow_nesting_is_refused_without_crashing(tmp_path):
    depth = 100_000  # deep enough to overflow a recursive composer
    write(tmp_path / "deep.yaml", "kind: Model\nname: deep\nx: " + "[" * depth + "]" * depth)
    d = only(load_catalog(tmp_path)[1], "MY109")
    assert str(MAX_DEPTH) in d.message


def test_moderate_nesting_is_refused_as_too_deep(tmp_path):
    write(tmp_path / "deep.yaml", "kind: Model\nname: deep\nx: " + "[" * 70 + "]" * 70)
    d = only(load_catalog(tmp_path)[1], "MY109")
    assert d.line == 3


def test_file_over_the_size_limit_is_refused(tmp_path):
    big = write(tmp_path / "big.yaml", "kind: Model\nname: big\ndescription: " + "x" * 500)
    docs, diags = load_catalog(tmp_path, max_file_bytes=100)
    d = only(diags, "MY107")
    assert (d.file, d.line) == (str(big), 1)
    assert docs == []


def test_symlinked_file_outside_the_root_is_refused(tmp_path):
    outside = write(tmp_path / "outside" / "secret.yaml", "kind: Model\nname: leak\n")
    root = tmp_path / "catalog"
    write(root / "ok.yaml", "kind: Model\nname: ok\n")
    os.symlink(outside, root / "link.yaml")
    docs, diags = load_catalog(root)
    d = only(diags, "MY108")
    assert d.file == str(root / "link.yaml")
    assert [doc.name for doc in docs] == ["ok"]


def test_symlinked_directory_outside_the_root_is_refused(tmp_path):
    write(tmp_path / "outside" / "m.yaml", "kind: Model\nname: leak\n")
    root = tmp_path / "catalog"
    root.mkdir()
    os.symlink(tmp_path / "outside", root / "more")
    docs, diags = load_catalog(root)
    assert only(diags, "MY108").file == str(root / "more")
    assert docs == []


def test_symlink_inside_the_root_is_read_once(tmp_path):
    root = tmp_path / "catalog"
    write(root / "models" / "m.yaml", "kind: Model\nname: once\n")
    os.symlink(root / "models", root / "alias-dir")
    os.symlink(root / "models" / "m.yaml", root / "alias.yaml")
    docs, diags = load_catalog(root)
    assert diags == []
    assert [d.name for d in docs] == ["once"]


def test_one_bad_file_never_hides_the_others(in_fixtures):
    docs, diags = load_catalog(Path("."))
    codes = {d.code for d in diags}
    assert {"MY101", "MY102", "MY103", "MY104", "MY105", "MY106", "MY111"} <= codes
    assert {"first", "second", "shared-defaults", "scalars", "dup"} <= {d.name for d in docs}


def test_files_are_read_in_sorted_order_whatever_the_layout(tmp_path):
    for rel in ("b/z.yml", "a.yaml", "b/a.yaml", "c.txt"):
        write(tmp_path / rel, f"kind: Model\nname: {rel}\n")
    docs, _ = load_catalog(tmp_path)
    assert [d.name for d in docs] == ["a.yaml", "b/a.yaml", "b/z.yml"]


def test_file_is_shown_relative_to_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "cat" / "m.yaml", "kind: Model\nname: here\n")
    monkeypatch.chdir(tmp_path)
    assert load_catalog(Path("cat"))[0][0].file == "cat/m.yaml"
    monkeypatch.chdir(tmp_path / "cat")
    assert load_catalog(tmp_path / "cat")[0][0].file == "m.yaml"


def test_missing_catalog_is_a_diagnostic(tmp_path):
    docs, diags = load_catalog(tmp_path / "nope")
    assert docs == [] and only(diags, "MY100")


def test_control_character_is_refused_with_its_line(in_fixtures):
    d = only(load_one("control_char.yaml")[1], "MY101")
    assert (d.file, d.line, d.col) == ("control_char.yaml", 3, 19)
    assert "#x0007" in d.message


@pytest.mark.parametrize("name, line, col", [("complex_key.yaml", 3, 3), ("merge_list.yaml", 5, 3)])
def test_keys_must_be_scalars_and_merges_must_be_mappings(in_fixtures, name, line, col):
    docs, diags = load_one(name)
    d = only(diags, "MY110")
    assert (d.file, d.line, d.col) == (name, line, col)
    assert docs == []
