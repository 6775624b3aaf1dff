"""Write the benchmark's catalog: two chat models whose channels lead to the static upstream."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from benchmarks.proxy.upstream import PLAIN_PREFIX, STREAM_PREFIX

#: The key the load generator sends to modelyard; the catalog holds only its digest.
CLIENT_KEY = "bench-client-key-0123456789"
#: Environment variable holding the upstream key that modelyard resolves at load time.
UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"
UPSTREAM_KEY = "bench-upstream-key-0123456789"

#: Model names of the two request shapes; each has its own provider, so nginx can tell them
#: apart by path (it cannot read the JSON body).
PLAIN_MODEL = "bench-chat"
STREAM_MODEL = "bench-chat-stream"


def documents(upstream_root: str) -> list[dict[str, Any]]:
    """The catalog documents for an upstream at `upstream_root` (http://127.0.0.1:PORT)."""
    docs: list[dict[str, Any]] = [
        {"kind": "Settings", "name": "bench", "env_prefixes": ["BENCH_"]},
        {
            "kind": "Capability",
            "name": "streaming",
            "applies_to": ["chat"],
            "description": "Answers as server-sent events.",
        },
        {
            "kind": "Capability",
            "name": "tools",
            "applies_to": ["chat"],
            "description": "Calls functions the client declares in `tools`.",
        },
        {
            "kind": "Capability",
            "name": "stream_function_call",
            "applies_to": ["chat"],
            "description": "Streams tool calls (the agent shape streams with tools).",
        },
        {
            "kind": "Consumer",
            "name": "bench-client",
            "key_sha256": [hashlib.sha256(CLIENT_KEY.encode()).hexdigest()],
            "owner": {"type": "person", "code": "bench"},
            "scopes": ["public"],
        },
    ]
    for model, prefix in ((PLAIN_MODEL, PLAIN_PREFIX), (STREAM_MODEL, STREAM_PREFIX)):
        provider = f"{model}-upstream"
        docs += [
            {
                "kind": "Provider",
                "name": provider,
                "protocol": "openai",
                "base_url": upstream_root + prefix,
                "data_destination": "inner",
                "auth": {"type": "bearer", "token": "${" + UPSTREAM_KEY_ENV + "}"},
            },
            {
                "kind": "Model",
                "name": model,
                "type": "chat",
                "visibility": "public",
                "capabilities": ["streaming", "tools", "stream_function_call"],
                "properties": {"max_output_tokens": 4096},
            },
            {
                "kind": "Channel",
                "name": f"{model}-nginx",
                "model": model,
                "provider": provider,
                "upstream_model": "bench-upstream",
                "options": {"stream_usage": True},
                "price": {
                    "unit": "per_million_tokens",
                    "currency": "USD",
                    "input": "0.15",
                    "output": "0.60",
                },
            },
        ]
    return docs


def write_catalog(directory: Path, upstream_root: str, max_connections: int | None = None) -> Path:
    """Write the catalog as one YAML file per document kind into `directory`; with
    `max_connections`, its Settings raise the server's connection limit (1,000 by default)
    for benchmarks that hold more streams open at once."""
    directory.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in documents(upstream_root):
        if doc["kind"] == "Settings" and max_connections is not None:
            doc["server"] = {"max_connections": max_connections}
        by_kind.setdefault(doc["kind"], []).append(doc)
    for kind, docs in by_kind.items():
        text = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
        (directory / f"{kind.lower()}s.yaml").write_text(text)
    return directory
