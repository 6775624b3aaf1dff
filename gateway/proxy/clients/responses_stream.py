"""The Responses API's streamed events, written from OpenAI chat chunks, in OpenAI's order:
response.created, response.in_progress; per output item response.output_item.added, for a
message response.content_part.added, response.output_text.delta... / .done,
response.content_part.done, for a function call response.function_call_arguments.delta...
/ .done; response.output_item.done; finally response.completed. Every event carries its
sequence_number; `error` ends a stream that broke off."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.proxy.clients.responses_chat import (
    call_item,
    message_item,
    new_id,
    response_object,
)

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class EventWriter:
    """Numbers events and writes them as server-sent events named by their type."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + _encode(data).encode() + b"\n\n"

    def error(self, code: str | None, message: str, param: str | None = None) -> bytes:
        return self("error", code=code, message=message, param=param)


class ResponsesEncoder:
    """Turns the chat chunks of one answer into Responses events, and keeps the Response
    they add up to (for `response.completed` and for storing)."""

    def __init__(self, body: Mapping[str, Any], *, id: str, model: str) -> None:
        self.body, self.id, self.model = body, id, model
        self.write = EventWriter()
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the output item being written
        self.text = ""
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool call index -> its item
        self.usage: Mapping[str, Any] | None = None
        self.finish: str | None = None
        self.started = False

    def response(self, status: str) -> dict[str, Any]:
        incomplete = "max_output_tokens" if status == "incomplete" else None
        return response_object(
            self.body,
            id=self.id,
            model=self.model,
            status=status,
            output=self.output if status != "in_progress" else [],
            usage=self.usage if status != "in_progress" else None,
            incomplete=incomplete,
        )

    def feed(self, chunk: Mapping[str, Any]) -> bytes:
        out = bytearray()
        if not self.started:
            self.started = True
            out += self.write("response.created", response=self.response("in_progress"))
            out += self.write("response.in_progress", response=self.response("in_progress"))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._text(delta["content"])
            for call in delta.get("tool_calls") or ():
                out += self._call(call)
            self.finish = choice.get("finish_reason") or self.finish
        return bytes(out)

    def end(self) -> bytes:
        out = bytearray(self.feed({}) if not self.started else b"")
        out += self._close()
        status = "incomplete" if self.finish == "length" else "completed"
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        out += self.write(kind, response=self.response(status))
        return bytes(out)

    def answer(self) -> dict[str, Any]:
        return self.response("incomplete" if self.finish == "length" else "completed")

    def _index(self) -> int:
        return len(self.output)

    def _text(self, text: str) -> bytes:
        out = b""
        if self.open is None or self.open["type"] != "message":
            out = self._close()
            self.open = message_item("", id=new_id("msg"), status="in_progress")
            self.text = ""
            out += self.write(
                "response.output_item.added", output_index=self._index(), item=self.open
            )
            out += self.write(
                "response.content_part.added",
                item_id=self.open["id"],
                output_index=self._index(),
                content_index=0,
                part=_part(""),
            )
        self.text += text
        return out + self.write(
            "response.output_text.delta",
            item_id=self.open["id"],
            output_index=self._index(),
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _call(self, call: Mapping[str, Any]) -> bytes:
        index = call.get("index", 0)
        out = b""
        item = self.calls.get(index)
        if item is None:
            out = self._close()
            item = call_item(call, id=new_id("fc"), status="in_progress")
            item["arguments"] = ""
            self.calls[index] = self.open = item
            out += self.write("response.output_item.added", output_index=self._index(), item=item)
        fragment = (call.get("function") or {}).get("arguments") or ""
        if fragment and item is self.open:
            item["arguments"] += fragment
            out += self.write(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._index(),
                delta=fragment,
            )
        return out

    def _close(self) -> bytes:
        item, self.open = self.open, None
        if item is None:
            return b""
        index = self._index()
        out = b""
        if item["type"] == "message":
            out += self.write(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=self.text,
                logprobs=[],
            )
            out += self.write(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=_part(self.text),
            )
            item = message_item(self.text, id=item["id"])
        else:
            out += self.write(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            item = {**item, "status": "completed"}
        self.output.append(item)
        return out + self.write("response.output_item.done", output_index=index, item=item)


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
