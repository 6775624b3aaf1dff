"""Import of the LiteLLM model price map: PriceBooks, and Model, Channel, Provider and
Capability drafts for chosen providers, as catalog YAML that validates clean."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.catalog.protocols import SERVES
from gateway.review.importers.litellm_map import (
    SOURCE,
    Entry,
    collect,
    count,
    money,
    price_of,
    sanitize,
)
from gateway.review.importers.yamlout import dump_documents

__all__ = ["ImportResult", "import_litellm", "money", "sanitize"]

CAPABILITY_FLAGS = {
    "supports_vision": "image_input",
    "supports_function_calling": "tools",
    "supports_response_schema": "json_schema",
    "supports_reasoning": "reasoning",
    "supports_audio_input": "audio_input",
    "supports_parallel_function_calling": "parallel_tool_calls",
}
#: Which capabilities a model type may carry (the bundled vocabulary's applies_to).
CAPABILITY_TYPES = {
    "image_input": {"chat", "realtime"},
    "tools": {"chat", "realtime"},
    "audio_input": {"chat", "realtime"},
    "parallel_tool_calls": {"chat", "realtime"},
    "json_schema": {"chat"},
    "reasoning": {"chat"},
    "streaming": {"chat"},
}
CAPABILITY_TEXT = {
    "image_input": "Accepts images in user messages.",
    "tools": "Calls client-declared tools.",
    "json_schema": "Structured outputs following a JSON schema.",
    "reasoning": "Thinks before answering.",
    "audio_input": "Accepts audio in user messages.",
    "parallel_tool_calls": "May return several tool calls at once.",
    "streaming": "Streams the answer as server-sent events.",
}
PROTOCOLS = {
    "openai": "openai",
    "azure": "azure-openai",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "gemini": "gemini",
    "vertex_ai": "gemini",
    "volcengine": "volcengine",
    "dashscope": "dashscope",
}
BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "dashscope": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "volcengine": "https://ark.cn-beijing.volces.com/api/v3",
    "xai": "https://api.x.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
}

#: Who makes a model, from the start of its upstream name; else the provider's own name.
VENDORS = (
    ("gpt-", "OpenAI"),
    ("o1", "OpenAI"),
    ("o3", "OpenAI"),
    ("o4", "OpenAI"),
    ("chatgpt", "OpenAI"),
    ("dall-e", "OpenAI"),
    ("whisper", "OpenAI"),
    ("tts-", "OpenAI"),
    ("text-embedding", "OpenAI"),
    ("sora", "OpenAI"),
    ("claude", "Anthropic"),
    ("gemini", "Google"),
    ("gemma", "Google"),
    ("imagen", "Google"),
    ("veo", "Google"),
    ("llama", "Meta"),
    ("meta-llama", "Meta"),
    ("mistral", "Mistral AI"),
    ("mixtral", "Mistral AI"),
    ("codestral", "Mistral AI"),
    ("qwen", "Alibaba"),
    ("deepseek", "DeepSeek"),
    ("grok", "xAI"),
    ("doubao", "ByteDance"),
    ("command", "Cohere"),
    ("embed-", "Cohere"),
    ("amazon.", "Amazon"),
    ("titan", "Amazon"),
    ("nova", "Amazon"),
)
PROVIDER_VENDORS = {
    "openai": "OpenAI",
    "azure": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google",
    "vertex_ai": "Google",
    "mistral": "Mistral AI",
    "deepseek": "DeepSeek",
    "xai": "xAI",
    "dashscope": "Alibaba",
    "volcengine": "ByteDance",
    "cohere": "Cohere",
}


@dataclass
class ImportResult:
    """Files to write (relative path -> YAML), counts, and what a reviewer should read:
    conflicting duplicate entries of the map, by name."""

    files: dict[str, str]
    summary: Counter[str]
    models: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def vendor_of(entry: Entry) -> str:
    """The model's maker, from its upstream name (`azure/gpt-4o` is OpenAI's), else the
    provider's."""
    bare = entry.upstream.rsplit("/", 1)[-1].lower()
    for prefix, vendor in VENDORS:
        if bare.startswith(prefix) or entry.upstream.lower().startswith(prefix):
            return vendor
    return PROVIDER_VENDORS.get(entry.source, entry.source.replace("_", " ").title())


def protocol_of(litellm_provider: str, types: Iterable[str] = ()) -> str:
    """The protocol of a provider: its native one, unless that serves under half of the
    provider's model `types`; then the OpenAI-compatible API most providers also offer."""
    native = (
        "gemini"
        if litellm_provider.startswith("vertex_ai")
        else PROTOCOLS.get(litellm_provider, "openai")
    )
    types = list(types)
    if types and 2 * sum(t in SERVES[native] for t in types) < len(types):
        return "openai"
    return native


def provider_doc(name: str, litellm_provider: str, protocol: str) -> dict[str, Any]:
    """A Provider stub: the protocol guessed, secrets as ${ENV} references to fill in."""
    env = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
    doc: dict[str, Any] = {
        "kind": "Provider",
        "name": name,
        "description": f"Draft imported from the LiteLLM price map (provider "
        f"{litellm_provider}): check base_url, auth and data_destination.",
        "protocol": protocol,
    }
    if protocol != "bedrock":
        known = (
            BASE_URLS.get(litellm_provider) if protocol == protocol_of(litellm_provider) else None
        )  # a sibling on another protocol has another endpoint
        doc["base_url"] = known or f"https://api.{env.lower().replace('_', '-')}.invalid/v1"
    if protocol == "bedrock":
        doc["auth"] = {
            "type": "sigv4",
            "region": "us-east-1",
            "access_key_id": "${AWS_ACCESS_KEY_ID}",
            "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
        }
    elif protocol in ("azure-openai", "anthropic", "gemini"):
        header = {"azure-openai": "api-key", "anthropic": "x-api-key", "gemini": "x-goog-api-key"}[
            protocol
        ]
        doc["auth"] = {"type": "header", "header": header, "value": f"${{{env}_API_KEY}}"}
    else:
        doc["auth"] = {"type": "bearer", "token": f"${{{env}_API_KEY}}"}
    doc["data_destination"] = "overseas"
    return doc


def capabilities_of(entry: Entry) -> list[str]:
    found = {cap for flag, cap in CAPABILITY_FLAGS.items() if entry.spec.get(flag) is True}
    if entry.type == "chat":
        found.add("streaming")  # every chat upstream of the map streams
    return sorted(c for c in found if entry.type in CAPABILITY_TYPES[c])


def properties_of(entry: Entry) -> dict[str, Any]:
    spec, props = entry.spec, dict[str, Any]()
    if entry.type in ("chat", "realtime", "embedding"):
        for key in ("max_input_tokens", "max_output_tokens"):
            if count(spec.get(key)) and (key != "max_output_tokens" or entry.type != "embedding"):
                props[key] = count(spec[key])
    if entry.type == "embedding" and count(spec.get("output_vector_size")):
        props["dimensions"] = count(spec["output_vector_size"])
    if entry.type in ("image-generation", "image-edit") and entry.images:
        props["sizes"] = sorted(entry.images)
        props["qualities"] = sorted({q for qs in entry.images.values() for q in qs})
    return props


def model_names(entries: Iterable[Entry]) -> dict[tuple[str, str], str]:
    """Model name per (provider, upstream): the sanitised map key, which keeps the provider
    prefix the map gives (`gpt-4o`, `azure/gpt-4o`), so names stay put between releases;
    the rare clash after sanitising is qualified by our provider and numbered."""
    entries = list(entries)
    seen = Counter(sanitize(e.key_name) for e in entries)
    names = {
        (e.provider, e.upstream): sanitize(e.key_name)
        for e in entries
        if seen[sanitize(e.key_name)] == 1
    }
    taken = set(names.values())
    for e in entries:
        if (e.provider, e.upstream) in names:
            continue
        name = base = sanitize(f"{e.provider}/{e.key_name}")
        number = 1
        while name in taken:
            number += 1
            name = f"{base[:120]}-{number}"
        names[(e.provider, e.upstream)] = name
        taken.add(name)
    return names


def model_docs(
    entry: Entry, name: str, priced: bool, active: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Model draft and its one Channel. Drafts are inactive and unlisted (internal) unless
    `active`, so merging an import serves nothing before someone reviews it; a model the map
    gives no usable price for stays so even then."""
    origin = f"Imported from the LiteLLM price map ({entry.source}: {entry.upstream})."
    live = active and priced
    model: dict[str, Any] = {
        "kind": "Model",
        "name": name,
        "display_name": f"{entry.upstream} ({entry.provider})",
        "vendor": vendor_of(entry),
        "description": origin
        if priced
        else origin + " No usable price in the map: add one to a price book, then activate it.",
        "type": entry.type,
        "status": "active" if live else "inactive",
        "visibility": "public" if live else "internal",
    }
    if capabilities_of(entry):
        model["capabilities"] = capabilities_of(entry)
    if properties_of(entry):
        model["properties"] = properties_of(entry)
    channel = {
        "kind": "Channel",
        "name": f"{name}@{entry.provider}",
        "model": name,
        "provider": entry.provider,
        "upstream_model": entry.upstream,
    }
    return model, channel


def import_litellm(
    data: Mapping[str, Any],
    *,
    providers: Iterable[str] | None = None,
    provider_map: Mapping[str, str] | None = None,
    with_models: bool = False,
    schema_root: str | None = None,
    active: bool = False,
    map_version: str | None = None,
) -> ImportResult:
    """The catalog files (relative path -> YAML text) of the map's entries, and a summary.
    `map_version` names the release of the map in every price book's source."""
    summary: Counter[str] = Counter()
    chosen = None if providers is None else set(providers)
    conflicts: list[str] = []
    entries = collect(data, chosen, dict(provider_map or {}), summary, conflicts)
    version = f" {map_version}" if map_version else ""
    protocols = assign_protocols(entries) if with_models else {}
    priced = [(e, p) for e in entries if (p := price_of(e)) is not None]
    summary["entries without a usable price"] += len(entries) - len(priced)
    by_provider: dict[str, list[tuple[Entry, dict[str, Any]]]] = {}
    for entry, price in priced:
        by_provider.setdefault(entry.provider, []).append((entry, price))
    files: dict[str, str] = {}
    for ours, items in sorted(by_provider.items()):
        sources = sorted({e.source for e, _ in items})
        book = {
            "kind": "PriceBook",
            "name": f"{ours}-litellm",
            "description": f"Prices of provider {ours} from the LiteLLM price map.",
            "provider": ours,
            "currency": "USD",
            "source": f"{SOURCE}{version}, entries of {', '.join(sources)}",
            "prices": {e.upstream: p for e, p in sorted(items, key=lambda i: i[0].upstream)},
        }
        rel = f"price-books/{ours}.yaml"
        files[rel] = dump_documents(rel, [book], schema_root=schema_root)
        summary["price entries"] += len(items)
    models: list[str] = []
    if with_models:
        files.update(
            _model_files(
                entries, {id(e) for e, _ in priced}, protocols, summary, schema_root, active, models
            )
        )
    return ImportResult(files, summary, sorted(models), conflicts)


def assign_protocols(entries: list[Entry]) -> dict[str, tuple[str, str]]:
    """Our provider -> (litellm provider, protocol). An entry of a type its provider's
    protocol cannot serve moves to a sibling provider `NAME-openai` speaking the
    OpenAI-compatible API, so nothing importable is dropped."""
    types: dict[str, list[str]] = {}
    for e in entries:
        types.setdefault(e.provider, []).append(e.type)
    native = {e.provider: protocol_of(e.source, types[e.provider]) for e in reversed(entries)}
    out: dict[str, tuple[str, str]] = {}
    for e in entries:
        protocol = native[e.provider]
        if e.type not in SERVES[protocol]:
            e.provider, protocol = f"{e.provider}-openai", "openai"
        out.setdefault(e.provider, (e.source, protocol))
    return out


def _model_files(
    entries: list[Entry],
    priced: set[int],
    protocols: Mapping[str, tuple[str, str]],
    summary: Counter[str],
    schema_root: str | None,
    active: bool,
    models: list[str],
) -> dict[str, str]:
    served = entries
    names = model_names(served)
    files: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    by_provider: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for entry in served:
        model, channel = model_docs(
            entry, names[(entry.provider, entry.upstream)], id(entry) in priced, active
        )
        models.append(model["name"])
        by_provider.setdefault(entry.provider, []).append((model, channel))
        for cap in model.get("capabilities", ()):
            used.setdefault(cap, set()).add(entry.type)
    for ours, (source, protocol) in sorted(protocols.items()):
        rel = f"providers/{ours}.yaml"
        files[rel] = dump_documents(
            rel, [provider_doc(ours, source, protocol)], schema_root=schema_root
        )
    for ours, docs in sorted(by_provider.items()):
        docs.sort(key=lambda d: d[0]["name"])
        for rel, kind_docs in (
            (f"models/{ours}.yaml", [m for m, _ in docs]),
            (f"channels/{ours}.yaml", [c for _, c in docs]),
        ):
            files[rel] = dump_documents(rel, kind_docs, schema_root=schema_root)
        summary["models"] += len(docs)
    if used:
        caps = [
            {
                "kind": "Capability",
                "name": c,
                "description": CAPABILITY_TEXT[c],
                "applies_to": sorted(t),
            }
            for c, t in sorted(used.items())
        ]
        files["capabilities.yaml"] = dump_documents(
            "capabilities.yaml", caps, schema_root=schema_root
        )
    return files
