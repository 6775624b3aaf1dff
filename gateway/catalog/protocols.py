"""The protocol registry: what each upstream protocol serves and carries, in one table.

Every fact about a protocol that more than one part of modelyard needs lives here: the
endpoints its adapter serves (and so the model types it can serve), the native tools it
carries in its own spelling, and the optional extra its adapter needs. The adapters take
their `endpoints` from it, the linter, `models`, the media policy, the importer and the
router's native-tool handling read it, and tests/test_protocol_registry.py ties each
adapter's behaviour to it. It is data only, so the catalog reads it without importing the
proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The model type each endpoint serves.
ENDPOINT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "chat": "chat",
        "embeddings": "embedding",
        "images.generations": "image-generation",
        "images.edits": "image-edit",
        "audio.speech": "speech",
        "audio.transcriptions": "transcription",
        "realtime": "realtime",
        "videos": "video-generation",
        "messages.count_tokens": "chat",
    }
)
ALL_TYPES = frozenset(ENDPOINT_TYPES.values())

MEDIA = frozenset({"images.generations", "images.edits", "audio.speech", "audio.transcriptions"})
#: A video job: created with failover ("videos"), then asked of the channel that holds it.
VIDEOS = frozenset({"videos", "videos.retrieve", "videos.content", "videos.delete"})
OPENAI_WIRE = frozenset({"chat", "embeddings"}) | MEDIA


@dataclass(frozen=True, slots=True)
class Protocol:
    """What one protocol's adapter serves and carries."""

    name: str
    endpoints: frozenset[str]
    #: Native tools carried, by catalog tool name, in the protocol's own spelling; None: any
    #: (the mock answers for every tool).
    native_tools: Mapping[str, Mapping[str, Any]] | None = field(default_factory=dict)
    #: (module, pip command) of an optional extra the adapter needs.
    extra: tuple[str, str] | None = None

    @property
    def model_types(self) -> frozenset[str]:
        return frozenset(ENDPOINT_TYPES[e] for e in self.endpoints if e in ENDPOINT_TYPES)


PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        p.name: p
        for p in (
            Protocol(
                "openai",
                OPENAI_WIRE | {"realtime"} | VIDEOS,
                # chat completions: a request field merged into the body
                {"web_search": {"web_search_options": {}}},
            ),
            Protocol("azure-openai", OPENAI_WIRE | {"realtime"}),
            Protocol(
                "anthropic",
                frozenset({"chat", "messages.count_tokens"}),
                {
                    # server tools in the request's `tools` list
                    "web_search": {"type": "web_search_20250305", "name": "web_search"},
                    "code_execution": {"type": "code_execution_20250522", "name": "code_execution"},
                },
            ),
            Protocol(
                "bedrock",
                frozenset({"chat"}),
                # Converse system tools in `toolConfig.tools` (Nova web grounding)
                {"web_search": {"systemTool": {"name": "nova_grounding"}}},
                extra=("botocore", "pip install 'modelyard[bedrock]'"),
            ),
            Protocol(
                "gemini",
                frozenset({"chat", "embeddings"}),
                {
                    # entries of the request's `tools` list
                    "web_search": {"google_search": {}},
                    "code_execution": {"code_execution": {}},
                    "url_context": {"url_context": {}},
                },
            ),
            Protocol("volcengine", frozenset({"chat", "embeddings", "images.generations"})),
            Protocol(
                "dashscope",
                frozenset({"chat", "embeddings"}),
                {"web_search": {"enable_search": True}},
            ),
            Protocol("mock", OPENAI_WIRE | {"realtime"} | VIDEOS, None),
        )
    }
)

#: The model types each protocol can serve.
SERVES: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: p.model_types for name, p in PROTOCOLS.items()}
)

#: Types a model of another type serves too when it has a capability:
#: wanted type -> (model type, capability).
ALSO_SERVED_BY: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "image-edit": ("image-generation", "image_edit"),
    }
)

#: Protocols whose adapter needs an optional extra, and the pip command that brings it.
EXTRAS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {name: p.extra for name, p in PROTOCOLS.items() if p.extra is not None}
)


def native_tool_spellings(protocol: str) -> Mapping[str, Mapping[str, Any]] | None:
    """The native tools a protocol carries, by catalog tool name, in its own spelling. None
    when the protocol carries any native tool (the mock), {} when it is unknown."""
    known = PROTOCOLS.get(protocol)
    return {} if known is None else known.native_tools
