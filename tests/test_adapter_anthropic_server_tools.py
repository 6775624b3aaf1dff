"""Anthropic's server tools through the adapter: native tools spelled from the catalog's
NativeTool documents, the blocks they stream, and their use counted for billing under the
catalog's name (the rest of the adapter: tests/test_adapter_anthropic.py)."""

from __future__ import annotations

import pytest

from gateway.catalog.snapshot import NativeTool
from gateway.errors import InvalidRequest
from gateway.proxy.adapters import anthropic
from tests.adapter_support import WEB_SEARCH, anthropic_chunks, assemble
from tests.adapter_support import anthropic_call as call
from tests.upstreams import anthropic as fake


def test_native_tools_are_spelled_from_the_native_tool_document():
    body = anthropic.build_request(
        call(
            {"tools": [{"type": "web_search"}], "messages": [{"role": "user", "content": "News?"}]},
            native=["web_search"],
        ),
        stream=False,
    )
    assert body["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]


def test_a_native_tool_the_model_does_not_allow_is_refused():
    with pytest.raises(InvalidRequest):
        anthropic.build_request(
            call(
                {
                    "tools": [{"type": "web_search"}],
                    "messages": [{"role": "user", "content": "News?"}],
                }
            ),
            stream=False,
        )


@pytest.mark.anyio
async def test_web_search_blocks_run_upstream_and_only_their_text_reaches_the_client():
    seen = assemble(await anthropic_chunks(fake.WEB_SEARCH_STREAM))
    assert seen["tools"] == {}
    assert seen["content"] == (
        "I'll check the current weather in New York City for you."
        "Here's the current weather information for New York City:\n\n"
        "# Weather in New York City\n\n"
    )
    assert seen["usage"]["prompt_tokens"] == 10682  # message_delta counts are cumulative


# A catalog that names the tool its own way: billing follows the Anthropic spelling's name.
SEARCH = {"search": NativeTool.from_dict({**WEB_SEARCH, "name": "search"})}


def test_server_tool_use_counts_become_native_tool_calls_under_the_catalog_name():
    usage = anthropic.to_openai(fake.WEB_SEARCH_MESSAGE, model="m", created=1, natives=SEARCH)[
        "usage"
    ]
    assert usage["native_tool_calls"] == {"search": 1}
    assert usage["prompt_tokens"] == 6039 and usage["completion_tokens"] == 931
    plain = anthropic.to_openai(fake.HELLO_MESSAGE, model="m", created=1, natives=SEARCH)
    assert "native_tool_calls" not in plain["usage"]


@pytest.mark.anyio
async def test_streamed_server_tool_use_counts_come_from_message_delta():
    seen = assemble(await anthropic_chunks(fake.WEB_SEARCH_STREAM, natives=SEARCH))
    assert seen["usage"]["native_tool_calls"] == {"search": 1}


def test_server_tool_counts_no_requested_tool_explains_keep_anthropics_name_and_zeros_drop():
    counts = {
        "web_search_requests": 2,
        "web_fetch_requests": 3,
        "code_runs": 4,
        "image_requests": 0,
    }
    assert anthropic.native_tool_calls(counts, SEARCH) == {"search": 2, "web_fetch": 3}
    assert anthropic.native_tool_calls(None, SEARCH) == {}
