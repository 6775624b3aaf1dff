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
