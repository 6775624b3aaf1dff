"""A deterministic JSON value that validates against a JSON Schema, for the mock's answers.

Covers what tool parameters and structured-output schemas use (OpenAI's strict subset and
pydantic's output): type, properties, required, items, enum, const, anyOf/oneOf/allOf, local
`$ref`s into `$defs`/`definitions`, minItems, minLength, minimum/maximum, formats of strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 12
_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "mock@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def instance(
    schema: Any, *, text: str = "mock", root: Mapping[str, Any] | None = None, depth: int = 0
) -> Any:
    """A value valid against `schema`; strings say `text` where the schema lets them."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return None if schema is False else {}
    root = schema if root is None else root
    again = lambda s: instance(s, text=text, root=root, depth=depth + 1)  # noqa: E731
    if "$ref" in schema:
        return again(_resolve(root, str(schema["$ref"])))
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [
                s for s in schema[key] if not (isinstance(s, Mapping) and s.get("type") == "null")
            ]
            return again((options or schema[key])[0])
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            part = (
                _resolve(root, part["$ref"])
                if isinstance(part, Mapping) and "$ref" in part
                else part
            )
            if isinstance(part, Mapping):
                merged = _merge(merged, part)
        return again({**merged, **{k: v for k, v in schema.items() if k != "allOf"}})
    return _typed(schema, _type_of(schema), text, again)


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    return str(kind)


def _typed(schema: Mapping[str, Any], kind: str, text: str, again: Any) -> Any:
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: again(sub) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [again(schema.get("items") or {}) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            low += 1
        high = schema.get("maximum")
        value = low if high is None else min(low, high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    value = text or "mock"
    least, most = int(schema.get("minLength", 0)), schema.get("maxLength")
    value = value.ljust(least, ".")
    return value if most is None else value[: int(most)]


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for key in filter(None, ref[1:].split("/")):
        node = (
            node.get(key.replace("~1", "/").replace("~0", "~"))
            if isinstance(node, Mapping)
            else None
        )
    return node if isinstance(node, Mapping) else {}


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key == "properties":
            out[key] = {**out.get(key, {}), **value}
        elif key == "required":
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = value
    return out
