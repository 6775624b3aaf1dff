"""Link schema-valid documents into one catalog: index names, check them, resolve references."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.catalog.codes import CODES
from gateway.catalog.document import Document, Path
from gateway.catalog.salvage import Lost
from gateway.diagnostics import Diagnostic

KINDS = (
    "Settings",
    "Provider",
    "Model",
    "Channel",
    "Capability",
    "NativeTool",
    "PriceBook",
    "Consumer",
    "Org",
)
_EMPTY: Mapping[str, Document] = MappingProxyType({})
#: kinds whose `model:` field (if any) is not the model a channel serves
_NOT_CHANNELS = frozenset(KINDS) - {"Channel"}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def diagnostic(doc: Document, path: Path, code: str, message: str, hint: str = "") -> Diagnostic:
    """A finding at the node `path` of `doc`, with the code's severity from the code table."""
    line, col = doc.locate(path)
    return Diagnostic(doc.file, line, col, code, CODES[code][0], message, hint)


def where(doc: Document) -> str:
    return f"{doc.file}:{doc.line}"


@dataclass(frozen=True, slots=True)
class PriceRef:
    """Where a channel's price comes from: `price` is the inline price or the book entry.

    `named` says the channel names its book; `path` is the node to point at about it.
    """

    price: Mapping[str, Any] | None
    source: str | None  # "inline", "book:NAME" or None
    book: Document | None
    named: bool
    path: Path


@dataclass(frozen=True, slots=True)
class Catalog:
    """Linked documents: one per (kind, name), references checked, channels grouped by model.

    `dropped` holds (kind, name) of documents left out for schema errors or lost with a
    file that failed to load: references to them are not reported again;
    `dropped_channel_models` names the models such channels were meant for, so rules about
    a model's channels do not cascade from them. `incomplete` says a broken file lost
    documents whose names are unknown: then no reference can be called unknown.
    """

    by_kind: Mapping[str, Mapping[str, Document]]
    settings: Document | None
    aliases: Mapping[str, str]  # alias -> model name
    channels_of: Mapping[str, tuple[Document, ...]]  # model name -> channels naming it
    books_of: Mapping[str, tuple[Document, ...]]  # provider name -> its price books, by name
    prices: Mapping[str, PriceRef]  # channel name -> where its price comes from
    dropped: frozenset[tuple[str, str]] = frozenset()
    dropped_channel_models: frozenset[str] = frozenset()
    incomplete: bool = False
    models: Mapping[str, Document] = field(init=False)
    channels: Mapping[str, Document] = field(init=False)
    providers: Mapping[str, Document] = field(init=False)
    price_books: Mapping[str, Document] = field(init=False)

    def __post_init__(self) -> None:
        for attr, kind in (
            ("models", "Model"),
            ("channels", "Channel"),
            ("providers", "Provider"),
            ("price_books", "PriceBook"),
        ):
            object.__setattr__(self, attr, self.kind(kind))

    def kind(self, kind: str) -> Mapping[str, Document]:
        return self.by_kind.get(kind, _EMPTY)

    def provider_of(self, channel: Document) -> Document | None:
        return self.providers.get(channel.data["provider"])

    def model_of(self, channel: Document) -> Document | None:
        return self.models.get(channel.data["model"])


def link(
    docs: Iterable[Document], *, dropped: Iterable[Document] = (), lost: Iterable[Lost] = ()
) -> tuple[Catalog, list[Diagnostic]]:
    """Index documents by kind and name, then check names and every reference between them.

    `dropped` are the documents left out for schema errors, `lost` those of files that
    failed to load (see `Catalog`).
    """
    gone = [Lost(d.file, d.kind, d.name, _text(d.data.get("model"))) for d in dropped]
    gone.extend(lost)
    diags: list[Diagnostic] = []
    by_kind = _index(docs, diags)
    settings = list(by_kind["Settings"].values())
    for extra in settings[1:]:
        diags.append(
            diagnostic(
                extra,
                (),
                "MY302",
                f"a second Settings document; the first is at {where(settings[0])}",
                "merge them into one Settings document",
            )
        )
    aliases = _alias_map(by_kind["Model"], diags)
    channels_of: dict[str, list[Document]] = {}
    for ch in by_kind["Channel"].values():
        channels_of.setdefault(ch.data["model"], []).append(ch)
    books_of: dict[str, list[Document]] = {}
    for name in sorted(by_kind["PriceBook"]):
        book = by_kind["PriceBook"][name]
        books_of.setdefault(book.data["provider"], []).append(book)
    books = by_kind["PriceBook"]
    prices = {name: _price_ref(ch, books, books_of) for name, ch in by_kind["Channel"].items()}
    cat = Catalog(
        by_kind=MappingProxyType({k: MappingProxyType(v) for k, v in by_kind.items()}),
        settings=settings[0] if settings else None,
        aliases=MappingProxyType(aliases),
        channels_of=MappingProxyType({m: tuple(cs) for m, cs in channels_of.items()}),
        books_of=MappingProxyType({p: tuple(bs) for p, bs in books_of.items()}),
        prices=MappingProxyType(prices),
        dropped=frozenset(
            (kind, g.name)
            for g in gone
            if g.name is not None
            for kind in ((g.kind,) if g.kind in KINDS else KINDS)
        ),
        dropped_channel_models=frozenset(
            g.model for g in gone if g.model is not None and g.kind not in _NOT_CHANNELS
        ),
        incomplete=any(g.name is None for g in gone),
    )
    diags.extend(_references(cat))
    return cat, diags


def _index(docs: Iterable[Document], diags: list[Diagnostic]) -> dict[str, dict[str, Document]]:
    """kind -> name -> document; of duplicates the first by file and line wins, whatever
    order the documents came in."""
    by_kind: dict[str, dict[str, Document]] = {k: {} for k in KINDS}
    for doc in sorted(docs, key=lambda d: (d.file, d.line, d.col)):
        seen = by_kind.setdefault(doc.kind, {})
        first = seen.get(doc.name)
        if first is None:
            seen[doc.name] = doc
        else:
            diags.append(
                diagnostic(
                    doc,
                    ("name",),
                    "MY301",
                    f"{doc.kind} {doc.name!r} is already defined at {where(first)}",
                    "rename one of them or delete the duplicate",
                )
            )
    return by_kind


def _alias_map(models: Mapping[str, Document], diags: list[Diagnostic]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for model in models.values():
        for i, alias in enumerate(model.data.get("aliases", ())):
            path = ("aliases", i)
            if alias == model.name:
                diags.append(
                    diagnostic(
                        model,
                        path,
                        "MY303",
                        f"alias {alias!r} is the model's own name",
                        "remove the alias",
                    )
                )
            elif alias in models:
                diags.append(
                    diagnostic(
                        model,
                        path,
                        "MY303",
                        f"alias {alias!r} is the name of the model defined at {where(models[alias])}",
                        "choose another alias; a name always resolves to its own model",
                    )
                )
            elif alias in aliases:
                owner = models[aliases[alias]]
                diags.append(
                    diagnostic(
                        model,
                        path,
                        "MY303",
                        f"alias {alias!r} is already an alias of model {owner.name!r} ({where(owner)})",
                        "keep the alias on one model only",
                    )
                )
            else:
                aliases[alias] = model.name
    return aliases


#: (referring kind, path to the reference or to a list of them, target kind, code)
_REFERENCES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("Channel", ("model",), "Model", "MY304"),
    ("Channel", ("provider",), "Provider", "MY305"),
    ("Channel", ("price", "book"), "PriceBook", "MY308"),
    ("Model", ("capabilities",), "Capability", "MY306"),
    ("Model", ("native_tools",), "NativeTool", "MY307"),
    ("PriceBook", ("provider",), "Provider", "MY305"),
    ("Consumer", ("models",), "Model", "MY304"),
    ("Settings", ("internal_tasks",), "Model", "MY304"),
)


def _references(cat: Catalog) -> Iterable[Diagnostic]:
    if cat.incomplete:
        return  # a broken file lost documents whose names are unknown: its error comes first
    for kind, path, target, code in _REFERENCES:
        known = cat.kind(target)
        for doc in cat.kind(kind).values():
            for ref_path, name in _refs_at(doc.data, path):
                if name in known or (target, name) in cat.dropped:
                    continue
                yield diagnostic(
                    doc,
                    ref_path,
                    code,
                    f"{doc.kind} {doc.name!r} refers to unknown {target} {name!r}",
                    _suggest(cat, target, name),
                )


def _refs_at(data: Mapping[str, Any], path: tuple[str, ...]) -> Iterable[tuple[Path, str]]:
    """The reference strings at `path`: one string, or each item of a list or mapping value."""
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return
        value = value[key]
    base: Path = path
    if isinstance(value, str):
        yield base, value
    elif isinstance(value, list):
        yield from (((*base, i), v) for i, v in enumerate(value) if isinstance(v, str))
    elif isinstance(value, Mapping):
        yield from (((*base, str(k)), v) for k, v in value.items() if isinstance(v, str))


def _suggest(cat: Catalog, target: str, name: str) -> str:
    if target == "Model" and name in cat.aliases:
        return f"{name!r} is an alias; refer to the model itself: {cat.aliases[name]!r}"
    close = difflib.get_close_matches(name, list(cat.kind(target)), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"define a {target} named {name!r} or fix the name"


def _price_ref(
    channel: Document, books: Mapping[str, Document], books_of: Mapping[str, Sequence[Document]]
) -> PriceRef:
    """The price of a channel: inline, from its named book, or from a book of its provider."""
    price = channel.data.get("price")
    upstream = channel.data.get("upstream_model")
    if isinstance(price, Mapping) and "book" not in price:
        return PriceRef(price, "inline", None, False, ("price",))
    if isinstance(price, Mapping):
        book = books.get(price["book"])
        entry = None if book is None else book.data["prices"].get(upstream)
        return PriceRef(entry, f"book:{price['book']}", book, True, ("price", "book"))
    for book in books_of.get(channel.data["provider"], ()):
        if upstream in book.data["prices"]:
            return PriceRef(
                book.data["prices"][upstream], f"book:{book.name}", book, False, ("upstream_model",)
            )
    return PriceRef(None, None, None, False, ("upstream_model",))
