"""The usage log records, for every upstream protocol, exactly the usage the client is told,
for plain and streamed answers, including streams whose client did not ask for usage."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

import pytest

from tests.adapter_support import proxy_catalog
from tests.conftest import client, fake_upstream, running_proxy
from tests.upstreams import anthropic, azure, bedrock, gemini, thinking_openai
from tests.upstreams.server import serve_asgi

HI = [{"role": "user", "content": "Hello"}]

#: What a setup yields while its fake upstream runs: the catalog, the environment holding
#: the provider's secret, and the model to ask for.
Served = tuple[dict[str, Any], dict[str, str], str]
Setup = Callable[[], AbstractContextManager[Served]]


def one_model(
    protocol: str,
    base_url: str | None,
    upstream_model: str,
    auth: dict[str, str] | None = None,
    **environ: str,
) -> Served:
    """A catalog whose one model "chat" is served by `upstream_model` over `protocol`."""
    catalog = proxy_catalog(protocol, base_url, auth or {"type": "none"}, {"chat": upstream_model})
    return catalog, environ, "chat"


def header_auth(header: str, variable: str) -> dict[str, str]:
    return {"type": "header", "header": header, "value": "${" + variable + "}"}


@contextmanager
def openai_upstream() -> Iterator[Served]:
    with fake_upstream() as (_, url):
        yield one_model("openai", url, "up-gpt")


@contextmanager
def azure_upstream() -> Iterator[Served]:
    with serve_asgi(azure.FakeAzure().app) as url:
        yield one_model(
            "azure-openai",
            url,
            "gpt-4o-prod",
            header_auth("api-key", "AZURE_KEY"),
            AZURE_KEY=azure.API_KEY,
        )


@contextmanager
def anthropic_upstream() -> Iterator[Served]:
    with serve_asgi(anthropic.make_app([])) as url:
        yield one_model(
            "anthropic",
            url,
            "claude-sonnet-4-5",
            header_auth("x-api-key", "ANTHROPIC_KEY"),
            ANTHROPIC_KEY=anthropic.API_KEY,
        )


@contextmanager
def bedrock_upstream() -> Iterator[Served]:
    auth = {
        "type": "sigv4",
        "region": bedrock.REGION,
        "service": "bedrock",
        "access_key_id": "${AWS_KEY_ID}",
        "secret_access_key": "${AWS_SECRET}",
    }
    with serve_asgi(bedrock.make_app([])) as url:
        yield one_model(
            "bedrock",
            url,
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            auth,
            AWS_KEY_ID=bedrock.ACCESS_KEY_ID,
            AWS_SECRET=bedrock.SECRET_ACCESS_KEY,
        )


@contextmanager
def gemini_upstream() -> Iterator[Served]:
    with serve_asgi(gemini.FakeGemini().app) as url:
        yield one_model(
            "gemini",
            f"{url}/v1beta",
            "gemini-2.5-flash",
            header_auth("x-goog-api-key", "GEMINI_KEY"),
            GEMINI_KEY="AIza-test-key",
        )


@contextmanager
def thinking_upstream(flavour: str, prefix: str) -> Iterator[Served]:
    """Volcengine Ark or DashScope, asked with thinking on so the usage has reasoning tokens."""
    upstream = thinking_openai.FakeThinking(flavour, prefix)
    with serve_asgi(upstream.app) as url:
        yield (
            thinking_openai.catalog(
                flavour,
                f"{url}{prefix}",
                model_name="chat",
                upstream_model="thinker",
                key_env="THINKING_KEY",
            ),
            {"THINKING_KEY": thinking_openai.KEYS[flavour]},
            "chat-on",
        )


@contextmanager
def mock_upstream() -> Iterator[Served]:
    yield one_model("mock", None, "echo-1")


SETUPS: dict[str, Setup] = {
    "openai": openai_upstream,
    "azure-openai": azure_upstream,
    "anthropic": anthropic_upstream,
    "bedrock": bedrock_upstream,
    "gemini": gemini_upstream,
    "volcengine": partial(thinking_upstream, "volcengine", "/api/v3"),
    "dashscope": partial(thinking_upstream, "dashscope", "/compatible-mode/v1"),
    "mock": mock_upstream,
}


def as_logged(usage: dict[str, Any]) -> dict[str, int]:
    """An OpenAI `usage` object as the usage log writes it: our names, zero fields left out."""
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    fields = {
        "input_tokens": usage.get("prompt_tokens"),
        "cached_input_tokens": prompt.get("cached_tokens"),
        "cache_write_tokens": prompt.get("cache_write_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "reasoning_tokens": completion.get("reasoning_tokens"),
    }
    return {name: value for name, value in fields.items() if value}


@pytest.mark.parametrize("protocol", list(SETUPS))
def test_usage_log_records_the_usage_the_client_was_told(protocol, tmp_path):
    log_path = tmp_path / "usage.jsonl"
    with (
        SETUPS[protocol]() as (data, environ, name),
        running_proxy(data, environ=environ, usage_log=str(log_path)) as (url, app),
    ):
        api = client(url)
        plain = api.chat.completions.create(model=name, messages=HI)
        asked = list(
            api.chat.completions.create(
                model=name, messages=HI, stream=True, stream_options={"include_usage": True}
            )
        )
        unasked = list(api.chat.completions.create(model=name, messages=HI, stream=True))
    app.accountant.close()
    assert asked[-1].usage is not None and all(c.usage is None for c in unasked)
    told_plain = as_logged(plain.usage.model_dump(exclude_none=True))
    told_stream = as_logged(asked[-1].usage.model_dump(exclude_none=True))
    assert told_plain["input_tokens"] > 0 and told_plain["output_tokens"] > 0
    assert told_stream["input_tokens"] > 0 and told_stream["output_tokens"] > 0

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(line["status"], line["endpoint"]) for line in lines] == [(200, "chat")] * 3
    # Sorted rather than taken in order: a stream is logged when its last byte has gone,
    # which may be after the next request came in.
    plain_line, *stream_lines = sorted(lines, key=lambda line: line["stream"])
    assert [plain_line["stream"]] + [line["stream"] for line in stream_lines] == [False, True, True]
    assert not any("estimated" in line["usage"] for line in lines)
    assert plain_line["usage"] == told_plain
    assert [line["usage"] for line in stream_lines] == [told_stream, told_stream]
