"""Requests through a real loopback server leave no reference cycle made of the proxy's
own objects: its garbage is freed by reference counting alone, so the cyclic collector's
young-generation threshold does not decide how long a request's memory is held
(docs/performance.md, "The cyclic garbage collector").

The proxy runs on the guarded httptools protocol as `modelyard serve` does; the fake
upstream, the client (the official SDK) and uvicorn make garbage of their own in this
process, so only objects of the proxy's code count: instances of `gateway.*` classes, and
functions, coroutines, generators and frames of code under gateway/.
"""

from __future__ import annotations

import gc
import random
import types
from pathlib import Path

import openai
import pytest

from gateway.proxy.app import ProxyApp
from gateway.proxy.server import guarded_protocol
from tests.adapter_support import streamed_text
from tests.conftest import ENV, client, fake_upstream, holder_of, standard_catalog
from tests.upstreams.server import serve_asgi

GATEWAY = str(Path(__file__).resolve().parent.parent / "gateway")


def _code_of(obj: object) -> types.CodeType | None:
    if isinstance(obj, types.FrameType):
        return obj.f_code
    if isinstance(obj, types.FunctionType):
        return obj.__code__
    if isinstance(obj, types.CoroutineType):
        return obj.cr_code
    if isinstance(obj, types.GeneratorType):
        return obj.gi_code
    if isinstance(obj, types.AsyncGeneratorType):
        return obj.ag_code
    return None


def ours(obj: object) -> bool:
    """Whether an object belongs to the proxy's code (see the module's docstring)."""
    if type(obj).__module__.startswith("gateway."):
        return True
    code = _code_of(obj)
    return code is not None and code.co_filename.startswith(GATEWAY)


def _name(obj: object) -> str:
    code = _code_of(obj)
    where = f" {code.co_qualname}" if code is not None else ""
    return f"{type(obj).__module__}.{type(obj).__qualname__}{where}"


def _requests(sdk: openai.OpenAI, fake: object) -> None:
    """Plain and streamed answers, each also from an upstream slow enough (100 ms) for the
    disconnect watcher to start, and an upstream error."""
    for slow in (0.0, 0.1):
        if slow:
            fake.push({"slow": slow}, {"slow": slow})  # type: ignore[attr-defined]
        answer = sdk.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
        chunks = sdk.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert streamed_text(chunks)
    fake.push(503)  # type: ignore[attr-defined]
    with pytest.raises(openai.APIStatusError):
        sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])


def test_requests_through_the_server_leave_no_cycle_of_the_proxys_objects() -> None:
    with fake_upstream() as (fake, url):
        app = ProxyApp(holder_of(standard_catalog(url), ENV), rng=random.Random(1))
        with serve_asgi(app, http=guarded_protocol()) as proxy_url:
            sdk = client(proxy_url)
            _requests(sdk, fake)  # warm-up: connection pools, caches, lazy imports
            gc.collect()
            gc.garbage.clear()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                probe: list[object] = []
                probe.append(probe)  # a cycle: proves the collector keeps what it finds
                del probe
                for _ in range(3):
                    _requests(sdk, fake)
                gc.collect()
            finally:
                gc.set_debug(0)
                garbage = list(gc.garbage)
                gc.garbage.clear()
    assert any(type(o) is list and o and o[0] is o for o in garbage)
    found = sorted({_name(o) for o in garbage if ours(o)})
    del garbage
    assert not found, f"the proxy's objects left in reference cycles: {found}"
