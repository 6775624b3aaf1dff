"""Which model types each upstream protocol can serve: shared by the linter and the adapters."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

ALL_TYPES = frozenset({"chat", "embedding", "speech", "transcription", "realtime",
                       "image-generation", "image-edit", "video-generation"})

SERVES: Mapping[str, frozenset[str]] = MappingProxyType({
    "openai": ALL_TYPES,
    "mock": ALL_TYPES,
    "azure-openai": frozenset({"chat", "embedding", "speech", "transcription", "realtime",
                               "image-generation", "image-edit"}),
    "anthropic": frozenset({"chat"}),
    "bedrock": frozenset({"chat"}),
    "gemini": frozenset({"chat", "embedding"}),
    "volcengine": frozenset({"chat", "embedding", "image-generation"}),
    "dashscope": frozenset({"chat", "embedding"}),
})

#: Types a model of another type serves too when it has a capability:
#: wanted type -> (model type, capability).
ALSO_SERVED_BY: Mapping[str, tuple[str, str]] = MappingProxyType({
    "image-edit": ("image-generation", "image_edit"),
})

#: Protocols whose adapter needs an optional extra, and the pip command that brings it.
EXTRAS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "bedrock": ("botocore", "pip install 'modelyard[bedrock]'"),
})


def native_tool_spellings(protocol: str) -> Mapping[str, Mapping[str, object]] | None:
    """The native tools a protocol's adapter carries, by catalog tool name, in the protocol's
    own spelling: its adapter module's `NATIVE_TOOLS` constant. None when the protocol
    carries any native tool (the mock), {} when it has no adapter to ask.

    Read from the adapter modules (imported on demand) so each protocol keeps its spellings
    beside its conversion code.
    """
    import importlib

    try:
        module = importlib.import_module(f"gateway.proxy.adapters.{protocol.replace('-', '_')}")
    except ImportError:
        return {}
    if getattr(module, "CARRIES_ANY_NATIVE_TOOL", False):
        return None
    return getattr(module, "NATIVE_TOOLS", {})
