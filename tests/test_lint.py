"""Every rule of link, lint and secrets against a broken fragment added to a valid catalog."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.catalog.codes import CODES
from gateway.catalog.compile import check_documents
from gateway.catalog.document import Document
from gateway.catalog.load import load_catalog
from gateway.catalog.schema import validate_documents
from gateway.catalog.secrets import scan_secrets
from gateway.diagnostics import Diagnostic

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))
EXPECT = re.compile(r"#\s*expect:\s*((?:MY\d{3}\s*)+)$")
#: generated, so that no key-shaped string is committed; none is a real key
FAKE_KEYS = {
    "openai": "sk-" + "T3stOnlyNotAKey" * 3,
    "openai-project": "sk-proj-" + "Ab1Cd2Ef3" * 6,
    "anthropic": "sk-ant-api03-" + "Xy9Zw8Vu7" * 5,
    "aws": "AKIA" + "TESTONLY0000FAKE",
    "google": "AIza" + ("Fk9Lm2Qr5" * 4)[:35],
}


def with_fake_keys(text: str) -> str:
    return re.sub(r"<<fake:([a-z-]+)>>", lambda m: FAKE_KEYS[m.group(1)], text)


def catalog_with(tmp_path: Path, fragment: Path | None) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "base", root)
    if fragment is not None:
        (root / f"zz-{fragment.name}").write_text(with_fake_keys(fragment.read_text()))
    return root


def findings(root: Path, *, botocore: bool = True) -> list[Diagnostic]:
    docs, loaded = load_catalog(root)
    schema = validate_documents(docs)
    _, checked = check_documents(docs, schema, has_module=lambda module: botocore)
    return sorted(loaded + schema + checked)


def expected(fragment: Path) -> set[tuple[str, str, int]]:
    out = set()
    for lineno, line in enumerate(fragment.read_text().splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            out |= {(code, f"catalog/zz-{fragment.name}", lineno) for code in m.group(1).split()}
    return out


def test_base_catalog_has_no_findings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert findings(catalog_with(tmp_path, None)) == []


@pytest.mark.parametrize("fragment", BROKEN, ids=lambda p: p.stem)
def test_broken_fragment_reports_exactly_its_marked_findings(fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = catalog_with(tmp_path, fragment)
    found = findings(root, botocore="MY414" not in fragment.name)
    assert {(d.code, d.file, d.line) for d in found} == expected(fragment)
    for d in found:
        assert d.severity == CODES[d.code][0]
        assert d.message and d.hint


def test_every_link_lint_and_secret_code_has_a_broken_fixture():
    marked = {code for f in BROKEN for code, _, _ in expected(f)}
    mine = {c for c in CODES if c[2] in "345"}
    assert mine <= marked


def test_secret_findings_never_echo_the_secret(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fragments = [f for f in BROKEN if f.name.startswith(("MY501", "MY502", "MY504"))]
    text = ""
    for fragment in fragments:
        root = catalog_with(tmp_path / fragment.stem, fragment)
        text += "\n".join(f"{d.message} {d.hint}" for d in findings(root))
    marked = sum(code == "MY502" for f in fragments for code, _, _ in expected(f))
    assert text.count("looks like") == marked >= len(FAKE_KEYS)  # every key was found
    for key in FAKE_KEYS.values():
        middle = len(key) // 2
        for part in (key[:12], key[middle - 4 : middle + 4], key[-8:]):
            assert part not in text
    for literal in (
        "correct-horse-battery",
        "not-a-reference-secret",
        "my-plain-demo-key",
        "2B30E3C1443C",
    ):
        assert literal not in text


def test_unknown_reference_hint_suggests_the_closest_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = findings(catalog_with(tmp_path, FIXTURES / "broken" / "MY305-unknown-provider.yaml"))
    hints = {d.hint for d in found if d.code == "MY305"}
    assert "did you mean 'anthropic'?" in hints


def test_reference_to_an_alias_names_the_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = findings(catalog_with(tmp_path, FIXTURES / "broken" / "MY304-unknown-model.yaml"))
    assert any("refer to the model itself: 'gpt-4o'" in d.hint for d in found)


def test_duplicate_names_point_at_the_second_and_name_the_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = findings(catalog_with(tmp_path, FIXTURES / "broken" / "MY301-duplicate-name.yaml"))
    (dup,) = found
    assert "already defined at catalog/zz-MY301-duplicate-name.yaml:1" in dup.message


KEY_SHAPES = {
    "an OpenAI API key": (
        "sk-proj-",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        40,
    ),
    "an Anthropic API key": (
        "sk-ant-api03-",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    ),
    "an AWS access key id": ("AKIA", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16),
    "a Google API key": (
        "AIza",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        35,
    ),
}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(sorted(KEY_SHAPES)),
    data=st.data(),
    field=st.sampled_from(["description", "display_name", "vendor"]),
)
def test_any_provider_key_anywhere_is_found_and_never_echoed(kind, data, field):
    prefix, alphabet, size = KEY_SHAPES[kind]
    body = data.draw(
        st.text(alphabet, min_size=size, max_size=size).filter(
            lambda t: any(c.isdigit() for c in t)
        )
    )
    key = prefix + body
    doc = Document(
        "Model",
        "m",
        "models.yaml",
        3,
        1,
        {"kind": "Model", "name": "m", "type": "chat", field: f"see {key} here"},
        {(field,): (7, 1)},
    )
    (found,) = scan_secrets([doc])
    assert (found.code, found.line) == ("MY502", 7) and kind in found.message
    shown = found.text() + found.github()
    assert all(key[i : i + 8] not in shown for i in range(len(key) - 7))
