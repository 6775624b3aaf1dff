"""What is wrong with a document that fails its JSON Schema, said in our own words (never
jsonschema's, which quote values) and located at the offending node."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, relevance

from gateway.catalog.document import Document
from gateway.catalog.document import Path as NodePath
from gateway.catalog.price_words import TYPE_PRICES, article, price_root, price_shape
from gateway.diagnostics import ERROR, Diagnostic


def _explain(doc: Document, error: ValidationError) -> Iterator[Diagnostic]:
    """Our message for one jsonschema error; never its own, which quotes values."""
    error = _most_specific(error)
    path: NodePath = tuple(error.absolute_path)
    root = price_root(doc, path)
    if (
        root is not None
        and error.validator != "additionalProperties"
        and (len(path) == len(root) or error.validator is None)
    ):
        yield _at(doc, path, "MY209", *price_shape(doc, root))
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


def _where(doc: Document, path: NodePath) -> str:
    if not path:
        return doc.kind
    kind_type = doc.data.get("type") if doc.kind == "Model" else None
    if path == ("properties",) and kind_type in TYPE_PRICES:
        return f"'properties' of {article(kind_type)} {kind_type} model"
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
            yield (
                path,
                "MY203",
                f"missing required field '{field}' in {_where(doc, path)}",
                f"add `{field}:`",
            )


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "empty",
}


def _type_words(schema: Mapping[str, Any]) -> str:
    kinds = schema.get("type")
    if kinds is None:
        return "a value"
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)


def _explain_type(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    yield (
        path,
        "MY204",
        f"{_label(doc, path)} must be {_type_words(error.schema)}",
        "change the value's type",
    )


def _explain_enum(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
    words = ", ".join(str(a) for a in allowed)
    maybe = ""
    if isinstance(error.instance, str):
        close = difflib.get_close_matches(error.instance, [str(a) for a in allowed], n=1)
        maybe = f"did you mean '{close[0]}'? " if close else ""
    yield (
        path,
        "MY205",
        f"{_label(doc, path)} must be one of: {words}",
        f"{maybe}use one of the listed values",
    )


_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _explain_bound(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    bounds = " and ".join(
        f"{op} {error.schema[k]}" for k, op in _BOUNDS.items() if k in error.schema
    )
    yield (
        path,
        "MY206",
        f"{_label(doc, path)} must be {_type_words(error.schema)} {bounds}",
        "change the value to fit the range",
    )


def _explain_pattern(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    if error.validator == "minLength" and error.validator_value == 1:
        yield path, "MY207", f"{_label(doc, path)} must not be empty", "write a value"
    elif error.validator == "pattern":
        yield (
            path,
            "MY207",
            f"{_label(doc, path)} is not in the expected form",
            f"it must match {error.validator_value}",
        )
    else:
        word = "at least" if error.validator == "minLength" else "at most"
        yield (
            path,
            "MY207",
            f"{_label(doc, path)} must be {word} {error.validator_value} characters long",
            "change the value's length",
        )


def _explain_names(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    # error.instance is the offending key itself: point at it, but do not repeat it.
    key = error.instance
    where = (*path, key) if (*path, key) in doc.positions else path
    rule = f"keys allowed: {_describe(error.schema)}"
    yield where, "MY207", f"a key of {_label(doc, path)} is not allowed", rule


def _explain_count(doc: Document, path: NodePath, error: ValidationError) -> Explained:
    what = {
        "minItems": ("at least", "items"),
        "maxItems": ("at most", "items"),
        "minProperties": ("at least", "entries"),
        "maxProperties": ("at most", "entries"),
    }.get(str(error.validator))
    if error.validator == "uniqueItems":
        yield path, "MY208", f"{_label(doc, path)} lists an item twice", "remove the repeat"
    elif what:
        yield (
            path,
            "MY208",
            f"{_label(doc, path)} needs {what[0]} {error.validator_value} {what[1]}",
            "add or remove entries",
        )


def _describe(schema: Any) -> str:
    """A schema in words: its type, enum, range and pattern (schema text only, no values)."""
    if not isinstance(schema, dict):
        return "a value"
    parts = (
        [f"one of: {', '.join(map(str, schema['enum']))}"]
        if "enum" in schema
        else [_type_words(schema)]
    )
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
    yield (
        path,
        "MY210",
        f"{_label(doc, path)} does not have an allowed shape",
        f"see the '{error.validator}' rule in the {doc.kind} schema",
    )


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
