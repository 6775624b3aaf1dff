"""Shared fixtures: small catalogs as snapshot dicts, the fake upstream, the proxy on loopback."""

from __future__ import annotations

import functools
import hashlib
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway import compiled
from gateway.catalog.snapshot import PRIORITIES, Snapshot, digest_of
from gateway.proxy.app import ProxyApp
from gateway.proxy.breaker import Breakers
from gateway.proxy.reload import Holder
from tests.upstreams.openai_like import FakeOpenAI
from tests.upstreams.server import serve_asgi


def pytest_sessionstart(session: pytest.Session) -> None:
    """Never test compiled modules older than their sources (setup.py): Python would
    import them instead of the code under test."""
    stale = compiled.stale()
    if stale:
        pytest.exit(
            "compiled extensions are older than their sources: "
            + ", ".join(stale)
            + "; build them again: python3 -m pip install -e '.[test]'",
            returncode=4,
        )


KEY_ALICE = "sk-alice-0123456789"
KEY_BOB = "sk-bob-0123456789"
KEY_SERVICE = "sk-service-0123456789"


def poll(condition: Callable[[], Any], timeout: float = 5.0) -> float:
    """Seconds until `condition()` held, polled every 10 ms; fails after `timeout` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - start


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def provider(
    name: str,
    *,
    protocol: str = "openai",
    base_url: str | None = None,
    auth: dict | None = None,
    data_destination: str = "overseas",
    headers: dict | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": protocol,
        "base_url": base_url,
        "auth": auth or {"type": "none"},
        "data_destination": data_destination,
        "headers": headers or {},
    }


def model(name: str, **kw: Any) -> dict[str, Any]:
    out = {
        "name": name,
        "display_name": name,
        "vendor": None,
        "description": None,
        "docs_url": None,
        "type": "chat",
        "status": "active",
        "visibility": "public",
        "owner": {"type": "system", "code": "platform"},
        "order": 100,
        "aliases": [],
        "tags": [],
        "properties": {},
        "capabilities": [
            "streaming",
            "tools",
            "image_input",
            "json_schema",
            "json_object",
            "stream_function_call",
            "parallel_tool_calls",
        ],
        "native_tools": [],
        "system_prompt": None,
    }
    out.update(kw)
    return out


def channel(name: str, model: str, provider: str, **kw: Any) -> dict[str, Any]:
    out = {
        "name": name,
        "model": model,
        "provider": provider,
        "protocol": kw.pop("protocol", None),
        "upstream_model": name,
        "priority": "normal",
        "weight": 1,
        "status": "active",
        "data_destination": None,
        "owner": None,
        "options": {},
        "price": None,
        "price_source": None,
    }
    out.update(kw)
    return out


def failover_chain(
    model_name: str, urls: list[str], *, key_env: str, prefix: str, **channel_kw: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Providers `up0`, `up1`, ... at `urls` (a bearer key from ${key_env}) and a channel
    `<prefix>0`, `<prefix>1`, ... of `model_name` on each, tried in the order of `urls`
    (by priority class, in the catalog's order)."""
    providers = [
        provider(f"up{i}", base_url=url, auth={"type": "bearer", "token": f"${{{key_env}}}"})
        for i, url in enumerate(urls)
    ]
    channels = [
        channel(f"{prefix}{i}", model_name, f"up{i}", priority=PRIORITIES[i], **channel_kw)
        for i in range(len(urls))
    ]
    return providers, channels


def consumer(name: str, key: str, **kw: Any) -> dict[str, Any]:
    out = {
        "name": name,
        "status": "active",
        "key_sha256": [key_digest(key)],
        "owner": {"type": "person", "code": name},
        "orgs": [],
        "scopes": ["public"],
        "max_data_destination": "overseas",
        "models": None,
    }
    out.update(kw)
    return out


def snapshot_dict(
    *,
    providers: list[dict],
    models: list[dict],
    channels: list[dict],
    consumers: list[dict] = (),
    settings: dict | None = None,
    aliases: dict | None = None,
    native_tools: dict | None = None,
) -> dict:
    """A complete snapshot in its JSON form, with channel order, protocols and digest filled."""
    by_provider = {p["name"]: p for p in providers}
    channel_map = {}
    for c in channels:
        c = dict(c)
        prov = by_provider[c["provider"]]
        c["protocol"] = c["protocol"] or prov["protocol"]
        c["data_destination"] = c["data_destination"] or prov["data_destination"]
        channel_map[c["name"]] = c
    out_models = []
    for m in sorted(models, key=lambda m: (m.get("order", 1000), m["name"])):  # display order
        mine = [c for c in channel_map.values() if c["model"] == m["name"]]
        mine.sort(key=lambda c: (PRIORITIES.index(c["priority"]), -c["weight"], c["name"]))
        out_models.append({**m, "channels": [c["name"] for c in mine]})
    alias_map = dict(aliases or {})
    for m in models:
        alias_map.update({a: m["name"] for a in m.get("aliases", ())})
    body = {
        "schema_version": 1,
        "settings": settings or {},
        "providers": by_provider,
        "capabilities": {},
        "native_tools": native_tools or {},
        "models": out_models,
        "channels": channel_map,
        "aliases": alias_map,
        "consumers": list(consumers),
    }
    body["digest"] = digest_of(body)
    return body


def write_catalog(
    root: Path,
    version: int = 1,
    *,
    key: str = KEY_ALICE,
    upstream_url: str | None = None,
    settings: str = "",
) -> Path:
    """A one-model YAML catalog served by the mock (or by the OpenAI upstream at
    `upstream_url`); the upstream model names the version. `settings` is YAML for a
    Settings document's fields."""
    root.mkdir(parents=True, exist_ok=True)
    if upstream_url is None:
        provider, upstream = "name: mock\nprotocol: mock", f"echo-v{version}"
    else:
        provider = f"name: fake\nprotocol: openai\nbase_url: {upstream_url}"
        upstream = f"up-v{version}"
    head = f"kind: Settings\nname: settings\n{settings}\n---\n" if settings else ""
    name = provider.split("\n")[0].removeprefix("name: ")
    (root / "catalog.yaml").write_text(f"""{head}\
kind: Provider
{provider}
auth: {{type: none}}
data_destination: protected
---
kind: Capability
name: streaming
applies_to: [chat]
---
kind: Model
name: echo
display_name: Echo
type: chat
status: active
visibility: public
capabilities: [streaming]
---
kind: Channel
name: echo@{name}
model: echo
provider: {name}
upstream_model: {upstream}
price: {{currency: USD, unit: per_million_tokens, input: "0", output: "0"}}
---
kind: Consumer
name: alice
owner: {{type: person, code: alice}}
key_sha256: [{key_digest(key)}]
scopes: [public]
""")
    return root


def client(base_url: str, key: str = KEY_ALICE, **kw: Any) -> openai.OpenAI:
    """The official SDK pointed at the proxy; no SDK retries, so tests see every answer.

    Clients without extra options are shared: building one costs tens of milliseconds.
    """
    if not kw:
        return _shared_client(base_url, key)
    return openai.OpenAI(
        base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=kw.pop("timeout", 15), **kw
    )


@functools.lru_cache(maxsize=64)
def _shared_client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=15)


def holder_of(data: dict, environ: dict | None = None, **kw: Any) -> Holder:
    holder = Holder(None, Breakers(**kw), environ=environ or {})
    holder.install(Snapshot.from_dict(data))
    return holder


@contextmanager
def running_proxy(
    data: dict | Holder,
    *,
    environ: dict | None = None,
    seed: int = 1,
    no_auth: bool = False,
    usage_log: str | None = None,
) -> Iterator[tuple[str, ProxyApp]]:
    """The proxy on loopback serving `data` (a snapshot dict, or a prepared holder), writing
    its usage log to `usage_log` when given."""
    holder = data if isinstance(data, Holder) else holder_of(data, environ)
    app = ProxyApp(holder, no_auth=no_auth, rng=random.Random(seed), usage_log=usage_log)
    with serve_asgi(app) as url:
        yield url, app


@contextmanager
def fake_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_asgi(fake.app) as url:
        try:
            yield fake, f"{url}/v1"
        finally:
            fake.release()


@pytest.fixture
def anyio_backend() -> str:
    """`pytest.mark.anyio` tests run on asyncio, as the proxy does."""
    return "asyncio"


@pytest.fixture
def upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    """The fake OpenAI upstream on loopback: (fake, base_url ending in /v1)."""
    with fake_upstream() as pair:
        yield pair


ENV = {"MY_FAKE_KEY": "upstream-secret"}


def standard_catalog(upstream_url: str, **settings: Any) -> dict:
    """A small catalog with one model of each visibility, over the fake upstream and mock."""
    limited = ["streaming"]
    return snapshot_dict(
        settings={"system_prompt": "Be brief.", **settings},
        providers=[
            provider(
                "fake",
                base_url=upstream_url,
                auth={"type": "bearer", "token": "${MY_FAKE_KEY}"},
                headers={"x-provider": "p1"},
            ),
            provider("mock", protocol="mock"),
        ],
        models=[
            model(
                "gpt-test",
                aliases=["gpt"],
                order=1,
                system_prompt="Answer in English.",
                properties={"max_output_tokens": 100},
                native_tools=["web_search"],
            ),
            model(
                "embed", type="embedding", order=2, properties={"dimensions": 16}, capabilities=[]
            ),
            model("limited", order=3, capabilities=limited),
            model("helper", visibility="internal"),
            model(
                "alice-private",
                visibility="private",
                owner={"type": "person", "code": "alice"},
                capabilities=[],
            ),
            model(
                "research-only", visibility="protected", owner={"type": "org", "code": "research"}
            ),
            model("retired", status="inactive"),
        ],
        channels=[
            channel(
                "fake-gpt",
                "gpt-test",
                "fake",
                upstream_model="up-gpt",
                options={"headers": {"x-channel": "c1"}},
            ),
            channel("mock-embed", "embed", "mock", upstream_model="hash-embed"),
            channel("mock-limited", "limited", "mock"),
            channel("mock-helper", "helper", "mock"),
            channel("mock-private", "alice-private", "mock"),
            channel("mock-research", "research-only", "mock"),
            channel("mock-retired", "retired", "mock"),
        ],
        consumers=[
            consumer("alice", KEY_ALICE),
            consumer("bob", KEY_BOB, orgs=["research"]),
            consumer("service", KEY_SERVICE, scopes=["public", "internal"]),
        ],
        native_tools={
            "web_search": {
                "name": "web_search",
                "description": None,
                "applies_to": ["chat"],
                "spellings": {},
                "price_per_call": None,
                "currency": "USD",
            }
        },
    )


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[str, FakeOpenAI]]:
    """The proxy serving `standard_catalog` in front of the fake upstream: (url, fake).

    Shared by a module's tests, which therefore must not script failures into the fake.
    """
    with (
        fake_upstream() as (fake, url),
        running_proxy(standard_catalog(url), environ=ENV) as (proxy_url, _app),
    ):
        yield proxy_url, fake
