"""Linking documents built in memory: indexes, duplicates, dropped documents, price lookup."""

from __future__ import annotations

from typing import Any

from gateway.catalog.compile import check_documents
from gateway.catalog.document import Document
from gateway.catalog.link import link
from gateway.diagnostics import ERROR, Diagnostic


def doc(kind: str, name: str, file: str = "c.yaml", line: int = 1, **data: Any) -> Document:
    return Document(
        kind, name, file, line, 1, {"kind": kind, "name": name, **data}, {("name",): (line + 1, 7)}
    )


def model(name: str, line: int = 1, file: str = "m.yaml", **data: Any) -> Document:
    return doc("Model", name, file, line, type="chat", **data)


def channel(name: str, model: str, provider: str = "p", line: int = 1, **data: Any) -> Document:
    return doc(
        "Channel",
        name,
        "ch.yaml",
        line,
        model=model,
        provider=provider,
        upstream_model=data.pop("upstream_model", "u"),
        **data,
    )


def book(name: str, provider: str, *entries: str) -> Document:
    prices = {
        e: {"type": "chat", "unit": "per_million_tokens", "input": 1, "output": 2} for e in entries
    }
    return doc("PriceBook", name, "b.yaml", provider=provider, prices=prices)


PROVIDER = doc("Provider", "p", protocol="mock")


def test_the_first_of_duplicates_by_file_and_line_wins_whatever_the_input_order():
    first, second = model("m", line=1, file="a.yaml"), model("m", line=5, file="b.yaml")
    for docs in ([first, second], [second, first]):
        cat, diags = link(docs)
        assert cat.models["m"] is first
        assert [(d.code, d.file, d.line) for d in diags] == [("MY301", "b.yaml", 6)]
        assert "a.yaml:1" in diags[0].message


def test_alias_map_points_aliases_at_their_model():
    cat, diags = link([model("m", aliases=["a", "b"]), model("n", line=9, aliases=["c"])])
    assert diags == [] and dict(cat.aliases) == {"a": "m", "b": "m", "c": "n"}


def test_references_to_documents_dropped_for_schema_errors_are_not_reported():
    dropped = model("broken", line=30)
    cat, diags = link([PROVIDER, channel("c", "broken")], dropped=[dropped])
    assert diags == [] and ("Model", "broken") in cat.dropped


def test_a_dropped_channel_does_not_make_its_model_look_unserved():
    bad = channel("c", "m", line=10, weight=-1)
    schema_error = Diagnostic("ch.yaml", 12, 1, "MY201", ERROR, "weight below 0")
    _, diags = check_documents([PROVIDER, model("m"), bad], [schema_error])
    assert diags == []


def test_the_same_model_without_a_channel_is_reported():
    _, diags = check_documents([PROVIDER, model("m")], [])
    assert [d.code for d in diags] == ["MY405"]


def test_price_comes_from_the_named_book_even_when_another_has_the_entry():
    cat, _ = link(
        [
            PROVIDER,
            book("a-list", "p", "u"),
            book("z-list", "p", "u"),
            channel("c", "m", price={"book": "z-list"}),
        ]
    )
    ref = cat.prices["c"]
    assert (ref.source, ref.named, ref.book.name) == ("book:z-list", True, "z-list")


def test_without_a_price_the_first_book_of_the_provider_by_name_is_used():
    cat, _ = link(
        [
            PROVIDER,
            book("z-list", "p", "u"),
            book("a-list", "p", "u"),
            book("other", "q", "u"),
            channel("c", "m"),
        ]
    )
    assert cat.prices["c"].source == "book:a-list"


def test_a_channel_without_inline_price_or_book_entry_has_no_price():
    cat, _ = link([PROVIDER, book("other", "q", "u"), channel("c", "m")])
    ref = cat.prices["c"]
    assert (ref.price, ref.source) == (None, None)
