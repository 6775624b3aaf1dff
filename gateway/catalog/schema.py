"""Check each document against the JSON Schema of its kind and say, in our own words, what is wrong."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import gateway
from gateway.catalog.document import Document
from gateway.catalog.document import Path as NodePath
from gateway.diagnostics import ERROR, Diagnostic

SCHEMA_BASE = "https://modelyard.dev/schemas/"
#: document kind -> its schema file
KIND_SCHEMAS: Mapping[str, str] = {
    "Settings": "settings.json",
    "Provider": "provider.json",
    "Model": "model.json",
    "Channel": "channel.json",
    "Capability": "capability.json",
    "NativeTool": "native-tool.json",
    "PriceBook": "price-book.json",
    "Consumer": "consumer.json",
    "Org": "org.json",
}


def schema_dir() -> Path:
    """The JSON Schemas: a symlink to schemas/ in the source tree, copies in a wheel."""
    return Path(gateway.__file__).parent / "_schemas"


def validate_documents(docs: Iterable[Document]) -> list[Diagnostic]:
    """Every schema problem of every document, each located at the offending node."""
    validators = _validators()
    checks = _fast_checks()
    diagnostics: list[Diagnostic] = []
    for doc in docs:
        validator = validators.get(doc.kind)
        if validator is None:
            diagnostics.append(_unknown_kind(doc))
        elif not checks[doc.kind](doc.data):  # the fast path: most documents are fine
            for error in validator.iter_errors(doc.data):
                diagnostics.extend(_explain(doc, error))
    return sorted(set(diagnostics))


@cache
def _fast_checks() -> dict[str, Callable[[Any], bool]]:
    """A yes/no check per kind, compiled to Python code by fastjsonschema.

    jsonschema interprets a schema on every document (about 350 us per document here);
    fastjsonschema's generated code answers the same question about 20x faster. Only a
    document it rejects goes through jsonschema, which explains each problem. The bundled
    schemas use only draft-07 keywords once `$ref`s are inlined, so both agree
    (tests/test_schema.py checks this on every fixture).
    """
    checks = {kind: _compiled(bundled) for kind, bundled in _bundled().items()}
    checks["PriceBook"] = _price_book_check(_bundled()["PriceBook"])
    return checks


def _compiled(schema: dict[str, Any]) -> Callable[[Any], bool]:
    validate = fastjsonschema.compile({**schema, "$schema": "http://json-schema.org/draft-07/schema#"},
                                      use_default=False)

    def check(data: Any) -> bool:
        try:
            validate(data)
        except fastjsonschema.JsonSchemaException:
            return False
        return True
    return check


def _price_book_check(bundled: dict[str, Any]) -> Callable[[Any], bool]:
    """PriceBooks hold thousands of entries, each shaped by an if/then chain on its `type`
    and `unit`; generated code pays an exception for every condition that does not hold.
    Check the book without its entries, then each entry against its schema specialised to
    its (type, unit), compiled once per pair."""
    entry_schema = bundled["properties"]["prices"]["additionalProperties"]
    shell = _compiled({**bundled, "properties": {
        **bundled["properties"], "prices": {**bundled["properties"]["prices"],
                                            "additionalProperties": {"type": "object"}}}})
    by_shape: dict[tuple[Any, Any], Callable[[Any], bool]] = {}

    def check(data: Any) -> bool:
        if not shell(data):
            return False
        for entry in data["prices"].values():
            shape = (entry.get("type"), entry.get("unit"))
            if not isinstance(shape[0], str) or not isinstance(shape[1], str):
                return False
            entry_check = by_shape.get(shape)
            if entry_check is None:
                entry_check = by_shape[shape] = _compiled(
                    _specialise(_specialise(entry_schema, "type", shape[0]), "unit", shape[1]))
            if not entry_check(entry):
                return False
        return True
    return check


def _specialise(schema: Any, field: str, value: str) -> Any:
    """`schema` for documents whose `field` is `value`: conditions on that field decided now."""
    if isinstance(schema, list):
        return [_specialise(item, field, value) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_specialise(v, field, value) if k == "allOf" else v) for k, v in schema.items()
           if k not in ("if", "then", "else")}
    condition = schema.get("if")
    if condition is None:
        return out
    test = (condition.get("properties") or {}).get(field)
    if set(condition) - {"properties", "required"} or set(condition.get("properties", {})) != {field} \
            or not isinstance(test, dict) or set(test) - {"const", "enum"}:
        return {**out, **{k: schema[k] for k in ("if", "then", "else") if k in schema}}
    holds = value == test["const"] if "const" in test else value in test["enum"]
    branch = schema.get("then" if holds else "else")
    if branch is not None:
        out["allOf"] = [*out.get("allOf", []), _specialise(branch, field, value)]
    return out


def load_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its $id."""
    schemas = {}
    for path in sorted(schema_dir().glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        schemas[contents["$id"]] = contents
    return schemas


@cache
def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per kind, built once per process and only read afterwards."""
    return {kind: jsonschema.Draft202012Validator(bundled) for kind, bundled in _bundled().items()}


@cache
def _bundled() -> dict[str, dict[str, Any]]:
    """Each kind's schema with every `$ref` inlined, built once per process."""
    schemas = load_schemas()
    registry: Registry = Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT202012))
        for uri, contents in schemas.items())
    return {kind: _inline_refs(schemas[SCHEMA_BASE + file], registry.resolver(SCHEMA_BASE + file))
            for kind, file in KIND_SCHEMAS.items()}


_ANNOTATIONS = frozenset({"description", "title", "$comment", "examples", "default",
                          "$schema", "$id", "$defs"})


def _inline_refs(schema: Any, resolver: Any, depth: int = 0) -> Any:
    """The schema with every `$ref` replaced by its target and annotations dropped.

    Same meaning for validation, but jsonschema no longer resolves a reference nor steps
    into a subschema for it on every use, which more than halves validation time on a large
    catalog. Our schemas have no recursive references.
    """
    if depth > 32:
        raise RecursionError("recursive $ref in the schemas")
    if isinstance(schema, list):
        return [_inline_refs(item, resolver, depth) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _inline_refs(value, resolver, depth) for key, value in schema.items()
              if key != "$ref" and (key not in _ANNOTATIONS or not isinstance(value, str))
              and key != "$defs"}
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        target = _inline_refs(resolved.contents, resolved.resolver, depth + 1)
        if isinstance(target, dict) and not set(target) & set(result):
            result.update(target)
        else:
            result.setdefault("allOf", []).insert(0, target)
    return result


def _unknown_kind(doc: Document) -> Diagnostic:
    line, col = doc.locate(("kind",))
    close = difflib.get_close_matches(doc.kind, KIND_SCHEMAS, n=1, cutoff=0.5)
    maybe = f"did you mean '{close[0]}'? " if close else ""
    return Diagnostic(doc.file, line, col, "MY201", ERROR, "unknown document kind",
                      f"{maybe}valid kinds: {', '.join(KIND_SCHEMAS)}")


def _explain(doc: Document, error: ValidationError) -> Iterator[Diagnostic]:
    """Our message for one jsonschema error; never its own, which quotes values."""
    error = _most_specific(error)
    path: NodePath = tuple(error.absolute_path)
    price_root = _price_root(doc, path)
    if price_root is not None and error.validator != "additionalProperties" \
            and (len(path) == len(price_root) or error.validator is None):
        yield _at(doc, path, "MY209", *_price_shape(doc, price_root))
        return
    validator = str(error.validator)
    if "propertyNames" in error.relative_schema_path:
        validator = "propertyNames"
    explain = _EXPLAINERS.get(validator, _explain_other)
    for where, code, message, hint in explain(doc, path, error):
        yield _at(doc, where, code, message, hint)


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend through anyOf / oneOf to the alternative that came closest.

    A scalar that fits none of its alternatives (a decimal: a number or a decimal string)
    is explained by listing them all instead.
    """
    while error.context and isinstance(error.instance, dict | list):
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        # The alternative with the fewest complaints is the one the author meant.
        closest = min(branches.values(), key=len)
        error = max(closest, key=relevance)
    return error


def _at(doc: Document, path: NodePath, code: str, message: str, hint: str) -> Diagnostic:
    line, col = doc.locate(path)
    return Diagnostic(doc.file, line, col, code, ERROR, message, hint)


def _label(doc: Document, path: NodePath) -> str:
    """How a node is named in messages: its key, or its list position, never its value."""
    if not path:
        return doc.kind
    last = path[-1]
    if isinstance(last, int):
        return f"item {last + 1} of {_label(doc, path[:-1])}"
    return f"'{last}'" if _shows(last) else f"a field of {_label(doc, path[:-1])}"


_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,47}")


def _shows(key: str) -> bool:
    """Whether a key may be repeated in a message: only if it looks like a field name,
    since a key too may be a pasted secret."""
    return bool(_FIELD_NAME.fullmatch(key)) and not key.startswith(("sk-", "AKIA", "AIza"))


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _where(doc: Document, path: NodePath) -> str:
    if not path:
        return doc.kind
    kind_type = doc.data.get("type") if doc.kind == "Model" else None
    if path == ("properties",) and kind_type in _TYPE_PRICES:
        return f"'properties' of {_article(kind_type)} {kind_type} model"
    return _label(doc, path)


Explained = Iterator[tuple[NodePath, str, str, str]]


def _explain_additional(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    allowed = sorted(error.schema.get("properties", {}))
    for key in error.instance:
        if key in allowed or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        maybe = f"did you mean '{close[0]}'? " if close else ""
        hint = f"{maybe}allowed: {', '.join(allowed)}" if allowed else "remove it"
        name = f"'{key}' " if _shows(key) else ""
        yield (*path, key), "MY202", f"unknown field {name}in {_where(doc, path)}", hint


def _explain_required(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    for field in error.validator_value:
        if isinstance(error.instance, dict) and field not in error.instance:
            yield path, "MY203", f"missing required field '{field}' in {_where(doc, path)}", \
                f"add `{field}:`"


_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "empty"}


def _type_words(schema: Mapping[str, Any]) -> str:
    kinds = schema.get("type")
    if kinds is None:
        return "a value"
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)


def _explain_type(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    yield path, "MY204", f"{_label(doc, path)} must be {_type_words(error.schema)}", \
        "change the value's type"


def _explain_enum(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
    words = ", ".join(str(a) for a in allowed)
    maybe = ""
    if isinstance(error.instance, str):
        close = difflib.get_close_matches(error.instance, [str(a) for a in allowed], n=1)
        maybe = f"did you mean '{close[0]}'? " if close else ""
    yield path, "MY205", f"{_label(doc, path)} must be one of: {words}", \
        f"{maybe}use one of the listed values"


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _explain_bound(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    bounds = " and ".join(f"{op} {error.schema[k]}" for k, op in _BOUNDS.items()
                          if k in error.schema)
    yield path, "MY206", f"{_label(doc, path)} must be {_type_words(error.schema)} {bounds}", \
        "change the value to fit the range"


def _explain_pattern(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    if error.validator == "minLength" and error.validator_value == 1:
        yield path, "MY207", f"{_label(doc, path)} must not be empty", "write a value"
    elif error.validator == "pattern":
        yield path, "MY207", f"{_label(doc, path)} is not in the expected form", \
            f"it must match {error.validator_value}"
    else:
        word = "at least" if error.validator == "minLength" else "at most"
        yield path, "MY207", \
            f"{_label(doc, path)} must be {word} {error.validator_value} characters long", \
            "change the value's length"


def _explain_names(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    # error.instance is the offending key itself: point at it, but do not repeat it.
    key = error.instance
    where = (*path, key) if (*path, key) in doc.positions else path
    rule = f"keys allowed: {_describe(error.schema)}"
    yield where, "MY207", f"a key of {_label(doc, path)} is not allowed", rule


def _explain_count(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    what = {"minItems": ("at least", "items"), "maxItems": ("at most", "items"),
            "minProperties": ("at least", "entries"),
            "maxProperties": ("at most", "entries")}.get(str(error.validator))
    if error.validator == "uniqueItems":
        yield path, "MY208", f"{_label(doc, path)} lists an item twice", "remove the repeat"
    elif what:
        yield path, "MY208", \
            f"{_label(doc, path)} needs {what[0]} {error.validator_value} {what[1]}", \
            "add or remove entries"


def _describe(schema: Any) -> str:
    """A schema in words: its type, enum, range and pattern (schema text only, no values)."""
    if not isinstance(schema, dict):
        return "a value"
    parts = [f"one of: {', '.join(map(str, schema['enum']))}"] if "enum" in schema else \
        [_type_words(schema)]
    parts += [f"{op} {schema[k]}" for k, op in _BOUNDS.items() if k in schema]
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    for inner in schema.get("allOf", ()):
        parts.append(_describe(inner))
    return " ".join(p for p in parts if p != "a value") or "a value"


def _explain_alternatives(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    shapes = " or ".join(_describe(branch) for branch in error.validator_value)
    yield path, "MY204", f"{_label(doc, path)} must be {shapes}", "change the value"


def _explain_forbidden(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    yield path, "MY202", f"{_label(doc, path)} is not allowed here", "remove it"


def _explain_other(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    yield path, "MY210", f"{_label(doc, path)} does not have an allowed shape", \
        f"see the '{error.validator}' rule in the {doc.kind} schema"


_EXPLAINERS = {
    "additionalProperties": _explain_additional,
    "required": _explain_required,
    "type": _explain_type,
    "enum": _explain_enum,
    "const": _explain_enum,
    "minimum": _explain_bound,
    "maximum": _explain_bound,
    "exclusiveMinimum": _explain_bound,
    "exclusiveMaximum": _explain_bound,
    "pattern": _explain_pattern,
    "minLength": _explain_pattern,
    "maxLength": _explain_pattern,
    "propertyNames": _explain_names,
    "minItems": _explain_count,
    "maxItems": _explain_count,
    "minProperties": _explain_count,
    "maxProperties": _explain_count,
    "uniqueItems": _explain_count,
    "None": _explain_forbidden,  # a `false` schema
    "anyOf": _explain_alternatives,
    "oneOf": _explain_alternatives,
}

# --- prices: their shape depends on the unit and, in a price book, the model type ---

_AMOUNTS = ("input", "output", "images", "characters", "audio", "video")
_TOKEN_UNITS = "per_million_tokens or per_thousand_tokens"
#: model type -> what its price needs, in words
_TYPE_PRICES = {
    "chat": f"'input' and 'output' {_TOKEN_UNITS}",
    "realtime": f"'input' and 'output' {_TOKEN_UNITS}",
    "embedding": f"'input' {_TOKEN_UNITS}, and no 'output'",
    "image-generation": "unit per_image and 'images' by size and quality",
    "image-edit": "unit per_image and 'images' by size and quality",
    "speech": "'characters' per_million_characters or per_thousand_characters",
    "transcription": "'audio' per_second or per_minute",
    "video-generation": "'video' per_second",
}
#: unit -> what a price in it needs, in words
_UNIT_PRICES = {
    "per_million_tokens": "'input' (and usually 'output'), no image, character, audio or "
                          "video amounts",
    "per_image": "'images' by size and quality and no other amounts",
    "per_million_characters": "'characters' and no other amounts",
    "per_second": "exactly one of 'audio' or 'video' and no token, image or character amounts",
}
_UNIT_PRICES["per_thousand_tokens"] = _UNIT_PRICES["per_million_tokens"]
_UNIT_PRICES["per_thousand_characters"] = _UNIT_PRICES["per_million_characters"]
_UNIT_PRICES["per_minute"] = _UNIT_PRICES["per_second"]


def _price_root(doc: Document, path: NodePath) -> NodePath | None:
    """The path of the price that `path` is in, if any."""
    if doc.kind == "Channel" and path[:1] == ("price",):
        return ("price",)
    if doc.kind == "PriceBook" and len(path) >= 2 and path[0] == "prices":
        return path[:2]
    return None


def _price_shape(doc: Document, root: NodePath) -> tuple[str, str]:
    """Message and hint for a price whose amounts do not fit its unit or model type.

    Only the unit and type (both checked against their closed vocabularies) and key
    names are repeated; amounts never are.
    """
    price: Any = doc.data
    for step in root:
        price = price[step]
    if not isinstance(price, dict):
        return "a price must be a mapping", "write unit: and the amounts"
    present = ", ".join(k for k in _AMOUNTS if k in price) or "no amounts"
    model_type, unit = price.get("type"), price.get("unit")
    if model_type in _TYPE_PRICES:
        return (f"{_article(model_type)} {model_type} price needs {_TYPE_PRICES[model_type]}",
                f"this one has unit {unit if unit in _UNIT_PRICES else '(none)'} and {present}")
    if unit in _UNIT_PRICES:
        return f"a price {unit} needs {_UNIT_PRICES[unit]}", f"this one has {present}"
    if "book" in price:
        return "a price from a book is just `{book: NAME}`", "remove the other fields"
    return "a price needs a unit", f"add unit: one of {', '.join(_UNIT_PRICES)}"
