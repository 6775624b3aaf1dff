"""A fake OpenAI Realtime upstream: a WebSocket server on loopback speaking the GA events.

It answers `session.update` with `session.updated`, keeps the conversation items it is
sent, and answers `response.create` with a function call when the session has a function
tool and the conversation holds no tool output yet, else with streamed text; every
response ends with `response.done` carrying usage (text, audio and cached tokens). It
records what it saw (headers, events) and when each connection closed.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

#: The usage of every response: what the tests price.
USAGE = {
    "total_tokens": 1500,
    "input_tokens": 1000,
    "output_tokens": 500,
    "input_token_details": {
        "text_tokens": 400,
        "audio_tokens": 600,
        "image_tokens": 0,
        "cached_tokens": 200,
        "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 100},
    },
    "output_token_details": {"text_tokens": 100, "audio_tokens": 400},
}


@dataclass
class Connection:
    path: str
    headers: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    closed_at: float | None = None  # time.monotonic() when the socket was closed


class FakeRealtime:
    """The fake; `refuse` makes every upgrade answer that HTTP status instead."""

    def __init__(self, *, refuse: int | None = None) -> None:
        self.refuse = refuse
        self.connections: list[Connection] = []
        self.refused = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse is None:
            return None
        self.refused += 1
        body = json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()
        return Response(
            self.refuse,
            HTTPStatus(self.refuse).phrase,
            Headers({"Content-Type": "application/json", "Content-Length": str(len(body))}),
            body,
        )

    async def handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        record = Connection(request.path, {k.lower(): v for k, v in request.headers.raw_items()})
        self.connections.append(record)
        session: dict[str, Any] = {
            "type": "realtime",
            "id": "sess_fake",
            "instructions": "",
            "tools": [],
            "model": _model(request.path),
        }
        items: list[dict[str, Any]] = []
        counter = iter(range(1, 1_000_000))

        async def emit(kind: str, **fields: Any) -> None:
            await ws.send(
                json.dumps({"type": kind, "event_id": f"event_{next(counter)}", **fields})
            )

        try:
            await emit("session.created", session=session)
            async for raw in ws:
                event = json.loads(raw)
                record.events.append(event)
                kind = event.get("type")
                if kind == "session.update":
                    session.update(event["session"])
                    await emit("session.updated", session=session)
                elif kind == "conversation.item.create":
                    item = {"id": f"item_{len(items)}", **event["item"]}
                    items.append(item)
                    await emit("conversation.item.added", previous_item_id=None, item=item)
                    await emit("conversation.item.done", previous_item_id=None, item=item)
                elif kind == "response.create":
                    await _respond(emit, session, items, next(counter))
        except ConnectionClosed:
            pass
        finally:
            record.closed_at = time.monotonic()


def _model(path: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(path).query).get("model") or ["?"])[0]


async def _respond(emit: Any, session: dict[str, Any], items: list[dict[str, Any]], n: int) -> None:
    rid = f"resp_{n}"
    await emit(
        "response.created",
        response={"id": rid, "object": "realtime.response", "status": "in_progress", "output": []},
    )
    tools = [t for t in session.get("tools") or () if t.get("type") == "function"]
    answered = any(i.get("type") == "function_call_output" for i in items)
    if tools and not answered:
        item = {
            "id": f"item_call_{n}",
            "type": "function_call",
            "status": "completed",
            "name": tools[0]["name"],
            "call_id": f"call_{n}",
            "arguments": '{"city":"Paris"}',
        }
        await emit(
            "response.output_item.added",
            response_id=rid,
            output_index=0,
            item={**item, "arguments": "", "status": "in_progress"},
        )
        await emit(
            "response.function_call_arguments.delta",
            response_id=rid,
            item_id=item["id"],
            output_index=0,
            call_id=item["call_id"],
            delta=item["arguments"],
        )
        await emit(
            "response.function_call_arguments.done",
            response_id=rid,
            item_id=item["id"],
            output_index=0,
            call_id=item["call_id"],
            name=item["name"],
            arguments=item["arguments"],
        )
        output = [item]
    else:
        said = [i.get("output") for i in items if i.get("type") == "function_call_output"]
        text = f"It is {json.loads(said[-1])['weather']}." if said else "Hello there."
        iid = f"item_out_{n}"
        where = {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}
        for word in text.split(" "):
            await emit("response.output_text.delta", **where, delta=word + " ")
        await emit("response.output_text.done", **where, text=text)
        output = [
            {
                "id": iid,
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text}],
            }
        ]
    await emit(
        "response.done",
        response={
            "id": rid,
            "object": "realtime.response",
            "status": "completed",
            "output": output,
            "usage": USAGE,
        },
    )


@contextmanager
def serve_fake(fake: FakeRealtime) -> Iterator[str]:
    """Run the fake on a loopback port in a thread; yields its base URL (http://…/v1)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: dict[str, Any] = {}

    async def main() -> None:
        async with serve(
            fake.handler, "127.0.0.1", 0, process_request=fake.process_request, max_size=None
        ) as server:
            stop["event"] = asyncio.Event()
            stop["port"] = next(iter(server.sockets)).getsockname()[1]
            ready.set()
            await stop["event"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("fake realtime upstream did not start")
    try:
        yield f"http://127.0.0.1:{stop['port']}/v1"
    finally:
        loop.call_soon_threadsafe(stop["event"].set)
        thread.join(timeout=10)
