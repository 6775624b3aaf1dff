"""The protocol registry is the one source of protocol facts: the adapters, the schema, the
linter and the native-tool handling all agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.catalog.protocols import ENDPOINT_TYPES, EXTRAS, PROTOCOLS, SERVES
from gateway.catalog.snapshot import NativeTool
from gateway.proxy import native_tools
from gateway.proxy.adapters.base import ENDPOINTS, adapter_class

ROOT = Path(__file__).resolve().parents[1]


def test_the_schema_names_exactly_the_registered_protocols():
    common = json.loads((ROOT / "schemas" / "common.json").read_text())
    assert set(common["$defs"]["protocol"]["enum"]) == set(PROTOCOLS)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_each_adapter_serves_exactly_its_registered_endpoints(name):
    adapter = adapter_class(name)
    assert adapter.protocol == name
    assert adapter.endpoints == PROTOCOLS[name].endpoints
    assert adapter.endpoints <= set(ENDPOINTS)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_the_model_types_a_protocol_serves_follow_from_its_endpoints(name):
    endpoints = PROTOCOLS[name].endpoints
    assert SERVES[name] == {ENDPOINT_TYPES[e] for e in endpoints if e in ENDPOINT_TYPES}
    assert "chat" in SERVES[name]


def test_extras_name_an_importable_module_and_the_pip_command():
    for name, (module, command) in EXTRAS.items():
        assert name in PROTOCOLS and module and command.startswith("pip install")


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_native_tools_are_sent_in_the_registered_spelling_or_dropped(name):
    for tool in ("web_search", "code_execution", "url_context", "made_up_tool"):
        spec = NativeTool(
            name=tool,
            description=None,
            applies_to=("chat",),
            spellings={},
            price_per_call=None,
            currency="USD",
        )
        carried = PROTOCOLS[name].native_tools
        expected = {"type": tool} if carried is None else carried.get(tool)
        assert native_tools.spelling(spec, name) == expected
        body = {"tools": [{"type": tool}], "tool_choice": "auto"}
        _, kept, dropped = native_tools.for_protocol(body, {tool: spec}, name)
        assert (tool in dropped) == (expected is None) and (tool in kept) == (expected is not None)
