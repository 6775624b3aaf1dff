"""`/v1/responses`: the OpenAI Responses API, with stored responses to continue, retrieve
and delete.

A conversation continued with `previous_response_id` is expanded here from the store, so
every channel gets the whole of it: channels that serve the Responses API natively get the
client's body (with `store: false`: the proxy keeps the conversation, not the upstream),
every other channel gets it translated to chat (responses_chat.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from gateway.catalog.snapshot import Consumer, Snapshot
from gateway.errors import DocumentsUnavailable, InvalidRequest, ProxyError, UnknownURL
from gateway.proxy import policy
from gateway.proxy.adapters.base import NativeEvent, NativeRequest, Reply
from gateway.proxy.clients.endpoint import ClientAPI, StreamEncoder, Translated, endpoint
from gateway.proxy.clients.response_store import ResponseStore, Stored
from gateway.proxy.clients.responses_chat import (
    chat_usage,
    input_items,
    native_tool,
    new_id,
    to_chat,
    to_response,
)
from gateway.proxy.clients.responses_stream import EventWriter, ResponsesEncoder
from gateway.proxy.exchange import Exchange, dumps
from gateway.proxy.reload import Loaded
from gateway.quota.gate import FAIL_CLOSED, FAIL_OPEN

if TYPE_CHECKING:
    from gateway.proxy.app import ProxyApp

log = logging.getLogger("modelyard.proxy")


class NotFound(ProxyError):
    """A stored response that does not exist, or not for this consumer (404)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


def _history(
    stored_input: list[dict[str, Any]], output: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A stored conversation as input items again. Item ids are left out: the upstream
    never stored them (the proxy sends `store: false`)."""
    return [
        {k: v for k, v in item.items() if k != "id"}
        for item in [*stored_input, *output]
        if item.get("type") != "reasoning" or item.get("encrypted_content")
    ]


class NativeEncoder(StreamEncoder):
    """Relays the upstream's Responses events, naming the client's model in the response
    objects they carry, and keeps the completed response."""

    def __init__(self, fix: Any, search_tool: str | None = None) -> None:
        self.fix = fix
        self.search_tool = search_tool
        self.final: dict[str, Any] | None = None
        self.sequence = -1

    def feed(self, item: NativeEvent) -> bytes:
        data = item.data
        self.sequence = data.get("sequence_number", self.sequence + 1)
        raw = item.raw
        if isinstance(data.get("response"), dict):
            self.fix(data["response"])
            if data.get("type") in ("response.completed", "response.incomplete"):
                self.final = data["response"]
            raw = dumps(data)
        name = (item.event or data.get("type") or "message").encode()
        return b"event: " + name + b"\ndata: " + raw + b"\n\n"

    def end(self) -> bytes:
        return b""

    def fail(self, error: ProxyError) -> bytes:
        writer = EventWriter()
        writer.sequence = self.sequence + 1
        body = error.body()["error"]
        return writer.error(
            body.get("code"), body.get("message") or error.message, body.get("param")
        )

    def usage(self) -> Mapping[str, Any] | None:
        final = self.final or {}
        return chat_usage(final.get("usage"), final.get("output"), self.search_tool)

    def answer(self) -> dict[str, Any] | None:
        return self.final


class TranslatedEncoder(StreamEncoder):
    def __init__(self, body: Mapping[str, Any], id: str, model: str) -> None:
        self.writer = ResponsesEncoder(body, id=id, model=model)

    def feed(self, item: Mapping[str, Any]) -> bytes:
        return self.writer.feed(item)

    def end(self) -> bytes:
        return self.writer.end()

    def fail(self, error: ProxyError) -> bytes:
        body = error.body()["error"]
        return self.writer.write.error(
            body.get("code"), body.get("message") or error.message, body.get("param")
        )

    def usage(self) -> Mapping[str, Any] | None:
        return self.writer.usage

    def answer(self) -> dict[str, Any]:
        return self.writer.answer()


class ResponsesAPI(ClientAPI):
    protocol = "responses"
    keeps_answers = True  # stored responses (`store`, `previous_response_id`)

    def __init__(
        self,
        store: ResponseStore,
        *,
        on_unavailable: str = FAIL_OPEN,
        state_errors: Counter[str] | None = None,
    ) -> None:
        self.store = store
        self.on_unavailable = on_unavailable  # when a response cannot be stored
        self.state_errors = Counter[str]() if state_errors is None else state_errors

    async def recall(self, body: Mapping[str, Any], consumer: Consumer) -> Stored | None:
        previous = body.get("previous_response_id")
        if previous is None:
            return None
        stored = await self.store.get(consumer.name, str(previous))
        if stored is None:
            raise InvalidRequest(
                f"Previous response with id '{previous}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return stored

    def translate(
        self, body: dict[str, Any], consumer: Consumer, snapshot: Snapshot, recalled: Any = None
    ) -> Translated:
        items = input_items(body)
        history: list[dict[str, Any]] = []
        if isinstance(recalled, Stored):
            history = _history(recalled.input, recalled.response.get("output") or [])
        conversation = [*history, *items]
        native = {k: v for k, v in body.items() if k != "previous_response_id"}
        native["input"], native["store"] = conversation, False
        return Translated(
            to_chat(body, conversation, snapshot.native_tools),
            native,
            extra={"client": body, "conversation": conversation, "id": new_id("resp")},
        )

    def native(
        self, translated: Translated, decision: policy.Decision, snapshot: Snapshot, ex: Exchange
    ) -> NativeRequest:
        body = dict(translated.native)
        model = translated.model
        prompts = [
            p
            for p in (snapshot.settings.system_prompt, model.system_prompt if model else None)
            if p
        ]
        if prompts:
            body["instructions"] = "\n\n".join(
                [*prompts, *filter(None, [body.get("instructions")])]
            )
        if tools := body.get("tools"):
            kept = [
                t
                for t in tools
                if t.get("type") == "function"
                or native_tool(t, snapshot.native_tools) in decision.native_tools
            ]
            translated.extra["search_tool"] = next(
                (
                    native_tool(t, snapshot.native_tools)
                    for t in kept
                    if str(t.get("type", "")).startswith("web_search")
                ),
                None,
            )
            if kept:
                body["tools"] = kept
            else:
                body.pop("tools")
                body.pop("tool_choice", None)
        return NativeRequest(self.protocol, body)

    def _fix(self, translated: Translated) -> Any:
        client = translated.extra["client"]

        def fix(response: dict[str, Any]) -> None:
            response["model"] = client["model"]
            response["previous_response_id"] = client.get("previous_response_id")
            response["store"] = client.get("store", True) is not False

        return fix

    def answer(
        self, reply: Reply, translated: Translated
    ) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        body = dict(reply.body or {})
        if reply.native:
            self._fix(translated)(body)
            search_tool = translated.extra.get("search_tool")
            return body, chat_usage(body.get("usage"), body.get("output"), search_tool)
        client = translated.extra["client"]
        return (
            to_response(body, client, id=translated.extra["id"], model=client["model"]),
            body.get("usage"),
        )

    def encoder(self, translated: Translated, native: bool) -> StreamEncoder:
        if native:
            return NativeEncoder(self._fix(translated), translated.extra.get("search_tool"))
        client = translated.extra["client"]
        return TranslatedEncoder(client, translated.extra["id"], client["model"])

    def error(self, error: ProxyError) -> tuple[int, Mapping[str, Any]]:
        return error.status, error.body()

    async def finished(
        self, translated: Translated, answer: Mapping[str, Any] | None, *, streamed: bool
    ) -> None:
        """Store the answer unless the client said `store: false`. When the store cannot be
        reached: fail_closed turns a whole answer into a 503, fail_open serves it unstored
        (logged, counted as `unstored` in /admin/status)."""
        client = translated.extra["client"]
        if answer is None or client.get("store") is False or translated.consumer is None:
            return
        try:
            await self.store.put(
                translated.consumer.name, dict(answer), translated.extra["conversation"]
            )
        except DocumentsUnavailable as error:
            self.state_errors["unstored"] += 1
            if self.on_unavailable == FAIL_CLOSED and not streamed:
                raise
            log.warning("response %s served but not stored: %s", answer.get("id"), error)


def api_of(app: ProxyApp) -> ResponsesAPI:
    """The app's Responses API, over the app's document store."""
    if app.clients is None:
        app.clients = ResponsesAPI(
            ResponseStore(app.documents),
            on_unavailable=app.gate.on_unavailable,
            state_errors=app.gate.state_errors,
        )
    return app.clients


async def dispatch(
    app: ProxyApp, ex: Exchange, method: str, path: str, loaded: Loaded, consumer: Consumer
) -> None:
    api = api_of(app)
    if path == "/v1/responses":
        if method != "POST":
            raise InvalidRequest(
                f"method {method} is not allowed on {path}", code="method_not_allowed"
            )
        return await app.pipeline.run(
            ex, loaded, consumer, endpoint(api, ex, consumer, app.pipeline.router)
        )
    rest = path[len("/v1/responses/") :] if path.startswith("/v1/responses/") else ""
    id, _, tail = rest.partition("/")
    if not id or (method, tail) not in (("GET", ""), ("DELETE", ""), ("GET", "input_items")):
        raise UnknownURL(f"Unknown request URL: {method} {path}")
    if method == "DELETE":
        if not await api.store.delete(consumer.name, id):
            raise _missing(id)
        return await ex.respond(200, dumps({"id": id, "object": "response", "deleted": True}))
    stored = await api.store.get(consumer.name, id)
    if stored is None:
        raise _missing(id)
    if tail == "":
        return await ex.respond(200, dumps(stored.response))
    return await ex.respond(200, dumps(item_list(stored.input, ex.scope)))


def _missing(id: str) -> NotFound:
    return NotFound(f"Response with id '{id}' not found.")


def item_list(items: list[dict[str, Any]], scope: Mapping[str, Any]) -> dict[str, Any]:
    """A page of input items, newest first unless `order=asc`, `limit` (1-100, default 20)
    after the item `after`. Items stored without an id get one from their position."""
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    order = (query.get("order") or ["desc"])[0]
    try:
        limit = min(100, max(1, int((query.get("limit") or ["20"])[0])))
    except ValueError:
        raise InvalidRequest("limit must be an integer", param="limit") from None
    numbered = [{"id": item.get("id") or f"item_{i}", **item} for i, item in enumerate(items)]
    if order != "asc":
        numbered.reverse()
    after = (query.get("after") or [None])[0]
    if after is not None:
        ids = [item["id"] for item in numbered]
        numbered = numbered[ids.index(after) + 1 :] if after in ids else []
    page = numbered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(numbered) > limit,
    }
