"""Time validate and compile on a catalog at real scale, generated from LiteLLM's price map.

    python benchmarks/catalog_scale.py [--prices PATH] [--runs 3] [--keep DIR]

Every model of the map with a servable mode becomes a Model with three channels (its own
provider with the price from that provider's PriceBook, and two relay providers in other
priority classes and weights, one priced inline); the catalog is written to a temporary
directory, then measured in a fresh process per run: load, schema, link + lint (+ secrets),
compile, total, and peak memory (max RSS). Prints a Markdown table and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from gateway.catalog.protocols import SERVES  # noqa: E402

DEFAULT_PRICES = REPO.parent / "shared" / "data" / "litellm_model_prices.json"
MODES = {
    "chat": "chat",
    "responses": "chat",
    "embedding": "embedding",
    "image_generation": "image-generation",
    "image_edit": "image-edit",
    "audio_speech": "speech",
    "audio_transcription": "transcription",
    "realtime": "realtime",
    "video_generation": "video-generation",
}
PROTOCOLS = {
    "openai": "openai",
    "azure": "azure-openai",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "bedrock_converse": "bedrock",
    "gemini": "gemini",
    "dashscope": "dashscope",
    "volcengine": "volcengine",
}
RELAYS = ("relay-a", "relay-b", "relay-c")  # openai-protocol resellers serving every type
NAME = re.compile(r"[^A-Za-z0-9._:@/+-]")
STAGES = ("load", "schema", "link + lint", "compile", "total")


def per_million(value: Any) -> str:
    return format(Decimal(str(value or 0)) * 1_000_000, "f")


def price_entry(mtype: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The PriceBook entry of one LiteLLM map entry, shaped by model type."""
    if mtype in ("chat", "realtime"):
        out = {
            "unit": "per_million_tokens",
            "input": per_million(spec.get("input_cost_per_token")),
            "output": per_million(spec.get("output_cost_per_token")),
        }
        if spec.get("cache_read_input_token_cost"):
            out["cached_input"] = per_million(spec["cache_read_input_token_cost"])
    elif mtype == "embedding":
        out = {"unit": "per_million_tokens", "input": per_million(spec.get("input_cost_per_token"))}
    elif mtype in ("image-generation", "image-edit"):
        each = spec.get("output_cost_per_image") or spec.get("input_cost_per_image") or 0
        out = {"unit": "per_image", "images": {"auto": {"standard": str(Decimal(str(each)))}}}
    elif mtype == "speech":
        out = {
            "unit": "per_million_characters",
            "characters": per_million(spec.get("input_cost_per_character")),
        }
    elif mtype == "transcription":
        out = {
            "unit": "per_second",
            "audio": str(Decimal(str(spec.get("input_cost_per_second") or 0))),
        }
    else:
        each = (
            spec.get("output_cost_per_second") or spec.get("output_cost_per_video_per_second") or 0
        )
        out = {"unit": "per_second", "video": str(Decimal(str(each)))}
    return {"type": mtype, **out}


def model_entries(prices: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(model name, model type, litellm provider, spec) for every servable entry."""
    out, seen = [], set()
    for key, spec in sorted(prices.items()):
        if not isinstance(spec, dict) or spec.get("mode") not in MODES:
            continue
        name = NAME.sub("-", key).lstrip("-./")[:100] or "model"
        while name in seen:
            name += "-x"
        seen.add(name)
        out.append((name, MODES[spec["mode"]], spec.get("litellm_provider", "other"), spec))
    return out


def provider_doc(name: str, protocol: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": "Provider", "name": name, "protocol": protocol}
    if protocol == "bedrock":
        doc["auth"] = {
            "type": "sigv4",
            "region": "us-east-1",
            "access_key_id": "${AWS_ACCESS_KEY_ID}",
            "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
        }
    else:
        env = "MODELYARD_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_KEY"
        doc["base_url"] = f"https://{name.replace('_', '-')}.example.com/v1"
        doc["auth"] = {"type": "bearer", "token": "${" + env + "}"}
    return doc


def model_docs(
    i: int, name: str, mtype: str, provider: str, protocol: str, spec: dict[str, Any]
) -> list[dict[str, Any]]:
    """A model and its three channels: own provider (book price), two relays."""
    caps = [
        c
        for c, flag in (
            ("tools", "supports_function_calling"),
            ("image_input", "supports_vision"),
            ("reasoning", "supports_reasoning"),
        )
        if spec.get(flag)
    ]
    model: dict[str, Any] = {
        "kind": "Model",
        "name": name,
        "type": mtype,
        "vendor": provider,
        "order": i % 50,
        "description": f"{mode_words(mtype)} model {name} from {provider}",
    }
    if mtype in ("chat", "realtime"):
        model["capabilities"] = caps + ["streaming"] * (mtype == "chat")
        if spec.get("max_output_tokens") and isinstance(spec["max_output_tokens"], int):
            model["properties"] = {"max_output_tokens": spec["max_output_tokens"]}
    if mtype == "chat" and spec.get("supports_web_search"):
        model["native_tools"] = ["web_search"]
    own = {
        "kind": "Channel",
        "name": f"{name}@{provider}",
        "model": name,
        "provider": provider,
        "upstream_model": name,
        "priority": "high",
        "weight": 1 + i % 3,
    }
    relay_a, relay_b = RELAYS[i % 3], RELAYS[(i + 1) % 3]
    inline = {k: v for k, v in price_entry(mtype, spec).items() if k != "type"}
    return [
        model,
        own,
        {
            "kind": "Channel",
            "name": f"{name}@{relay_a}",
            "model": name,
            "provider": relay_a,
            "upstream_model": name,
            "priority": "normal",
            "weight": 2,
            "price": inline,
        },
        {
            "kind": "Channel",
            "name": f"{name}@{relay_b}",
            "model": name,
            "provider": relay_b,
            "upstream_model": name,
            "priority": "low",
            "weight": 1 + i % 2,
            "price": {"book": f"{relay_b}-list"},
        },
    ]


def mode_words(mtype: str) -> str:
    return mtype.replace("-", " ").capitalize()


def generate(prices_path: Path, root: Path) -> dict[str, int]:
    """Write the catalog under `root`; returns counts of what was written."""
    entries = model_entries(json.loads(prices_path.read_text()))
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    books: dict[str, dict[str, Any]] = defaultdict(dict)
    providers: dict[str, str] = {r: "openai" for r in RELAYS}
    for i, (name, mtype, litellm_provider, spec) in enumerate(entries):
        protocol = PROTOCOLS.get(litellm_provider, "openai")
        provider = litellm_provider if mtype in SERVES[protocol] else f"{litellm_provider}-openai"
        providers[provider] = protocol if mtype in SERVES[protocol] else "openai"
        files[f"models/{litellm_provider}.yaml"] += model_docs(
            i, name, mtype, provider, providers[provider], spec
        )
        entry = price_entry(mtype, spec)
        books[provider][name] = entry
        books[RELAYS[(i + 1) % 3]][name] = entry
    files["providers.yaml"] = [provider_doc(n, p) for n, p in sorted(providers.items())]
    for provider, entries_of in sorted(books.items()):
        files[f"prices/{provider}.yaml"] = [
            {
                "kind": "PriceBook",
                "name": f"{provider}-list",
                "provider": provider,
                "currency": "USD",
                "source": "LiteLLM model price map",
                "prices": entries_of,
            }
        ]
    files["vocabulary.yaml"] = vocabulary()
    for rel, docs in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False))
    kinds = defaultdict(int)
    for docs in files.values():
        for d in docs:
            kinds[d["kind"]] += 1
    return dict(kinds)


def vocabulary() -> list[dict[str, Any]]:
    protocols = (
        "openai",
        "azure-openai",
        "anthropic",
        "bedrock",
        "gemini",
        "volcengine",
        "dashscope",
    )
    caps = [
        {"kind": "Capability", "name": n, "applies_to": ["chat", "realtime"]}
        for n in ("tools", "image_input", "reasoning")
    ]
    caps.append({"kind": "Capability", "name": "streaming", "applies_to": ["chat"]})
    tool = {
        "kind": "NativeTool",
        "name": "web_search",
        "applies_to": ["chat"],
        "spellings": {p: {"type": "web_search"} for p in protocols},
        "price_per_call": "0.01",
    }
    settings = {
        "kind": "Settings",
        "name": "settings",
        "currency": "USD",
        "env_prefixes": ["MODELYARD_", "AWS_"],
    }
    consumers = [
        {"kind": "Consumer", "name": f"app-{i}", "scopes": ["public"], "key_sha256": [f"{i:064x}"]}
        for i in range(1, 6)
    ]
    return [settings, *caps, tool, *consumers]


def measure(root: Path) -> dict[str, Any]:
    """Run the pipeline stage by stage in this (fresh) process: wall and CPU seconds."""
    from gateway.catalog.compile import check_documents, compile_catalog, snapshot_bytes
    from gateway.catalog.load import load_catalog
    from gateway.catalog.schema import validate_documents

    marks = [(time.perf_counter(), time.process_time())]
    docs, diags = load_catalog(root)
    marks.append((time.perf_counter(), time.process_time()))
    schema = validate_documents(docs)
    marks.append((time.perf_counter(), time.process_time()))
    cat, more = check_documents(docs, schema)
    marks.append((time.perf_counter(), time.process_time()))
    snapshot_bytes(compile_catalog(cat))
    marks.append((time.perf_counter(), time.process_time()))
    spans = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:], strict=False)]
    spans.append((marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]))
    return {
        "stages": dict(zip(STAGES, spans, strict=True)),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "diagnostics": len(diags) + len(schema) + len(more),
        "errors": sum(d.severity == "error" for d in diags + schema + more),
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--prices",
        type=Path,
        default=DEFAULT_PRICES,
        help="LiteLLM model_prices_and_context_window.json "
        "(default ../shared/data/litellm_model_prices.json)",
    )
    parser.add_argument("--runs", type=int, default=3, help="fresh processes to time (median)")
    parser.add_argument("--keep", type=Path, help="write the catalog here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    if not args.prices.is_file():
        print(
            f"price map not found: {args.prices}\npass --prices PATH to LiteLLM's "
            "model_prices_and_context_window.json (in the litellm package, or "
            "https://github.com/BerriAI/litellm)",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "catalog"
        counts = generate(args.prices, root)
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--measure", str(root)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(args.runs)
        ]
    print(
        f"catalog: {counts.get('Model', 0)} models, {counts.get('Channel', 0)} channels, "
        f"{counts.get('PriceBook', 0)} price books, {counts.get('Provider', 0)} providers, "
        f"{counts.get('Consumer', 0)} consumers; {runs[0]['diagnostics']} diagnostics "
        f"({runs[0]['errors']} errors)\n"
    )
    print(f"| stage | wall s (median of {args.runs}) | CPU s (median) |\n|---|---|---|")
    for stage in STAGES:
        wall = statistics.median(r["stages"][stage][0] for r in runs)
        cpu = statistics.median(r["stages"][stage][1] for r in runs)
        print(f"| {stage} | {wall:.2f} | {cpu:.2f} |")
    print(f"| peak memory (max RSS, whole process) | {max(r['peak_mb'] for r in runs):.0f} MB | |")
    print(f"\nmachine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
