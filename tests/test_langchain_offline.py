"""A LangChain agent loop and structured output run offline against the bundled catalog: the
proxy serves it with no upstream keys, so the mock channels answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from gateway.catalog.compile import build
from tests.conftest import running_proxy

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture(scope="module")
def llm() -> Iterator[ChatOpenAI]:
    snapshot = build(CATALOG).snapshot
    assert snapshot is not None
    with running_proxy(snapshot, environ={}, no_auth=True) as (url, _):
        yield ChatOpenAI(
            model="gpt-4o-mini", base_url=f"{url}/v1", api_key="offline", max_retries=0, timeout=15
        )


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"It is 21 degrees and sunny in {city}."


class Person(BaseModel):
    name: str
    age: int
    languages: list[str]


def test_bind_tools_agent_loop_calls_the_tool_and_answers_its_result(llm):
    agent = llm.bind_tools([get_weather])
    messages: list = [HumanMessage("Use get_weather to tell me the weather in Paris.")]
    for _ in range(4):  # bounded: a loop that never ends fails here
        reply = agent.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            assert call["name"] == "get_weather"
            messages.append(
                ToolMessage(content=get_weather.invoke(call["args"]), tool_call_id=call["id"])
            )
    called = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(called) == 1
    assert "21 degrees and sunny" in messages[-1].content
    assert messages[-1].response_metadata["finish_reason"] == "stop"


def test_with_structured_output_parses_into_the_model(llm):
    person = llm.with_structured_output(Person).invoke("Describe a programmer.")
    assert isinstance(person, Person)
    assert isinstance(person.age, int) and person.languages


def test_streamed_tool_call_is_assembled_by_langchain(llm):
    agent = llm.bind_tools([get_weather], tool_choice="get_weather")
    chunks = list(agent.stream("weather in Oslo"))
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    (call,) = whole.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"]["city"], str)
