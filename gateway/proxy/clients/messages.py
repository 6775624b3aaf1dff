"""`POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages API.

Channels whose adapter takes "messages" natively get the client's body as it is (policy
applied: system prompts first, server tools not allowed taken out); every other channel gets
it translated to chat (messages_chat.py) and its answer translated back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.catalog.snapshot import Consumer, Model, Snapshot
from gateway.errors import InvalidRequest, ProxyError
from gateway.proxy import policy, validate
from gateway.proxy.adapters.anthropic import usage_of
from gateway.proxy.adapters.base import NativeEvent, NativeRequest, Reply
from gateway.proxy.clients import messages_chat
from gateway.proxy.clients.endpoint import ClientAPI, StreamEncoder, Translated, endpoint
from gateway.proxy.clients.messages_stream import MessagesEncoder, NativeUsage, error_event
from gateway.proxy.exchange import Exchange, dumps, inference_headers
from gateway.proxy.meter import Meter
from gateway.proxy.pipeline import read_json
from gateway.proxy.reload import Loaded
from gateway.proxy.resolve import resolve
from gateway.proxy.router import Outcome, Routed

if TYPE_CHECKING:
    from gateway.proxy.app import ProxyApp

#: Anthropic's error type for each status it answers with.
ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
FORWARDED = (b"anthropic-version", b"anthropic-beta")


def anthropic_status(error: ProxyError) -> int:
    """Anthropic's status for our error. 503 (the last channel tried was overloaded:
    Anthropic's 529 or OpenAI's 503, see upstream_errors.py; or no channel is left with a
    closed circuit) is 529 overloaded; other server errors are 500."""
    status = error.status
    if status == 503:
        return 529
    if status >= 500 and status not in ERROR_TYPES:
        return 500
    return status


def error_body(error: ProxyError) -> tuple[int, dict[str, Any]]:
    status = anthropic_status(error)
    message = (error.body().get("error") or {}).get("message") or error.message
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return status, {"type": "error", "error": {"type": kind, "message": message}}


def with_policy(
    body: Mapping[str, Any], decision: policy.Decision, model: Model, snapshot: Snapshot
) -> dict[str, Any]:
    """The native body with what policy decided for its chat form: the catalog's system
    prompts before the client's, and only the server tools the model allows."""
    out = dict(body)
    prompts = [p for p in (snapshot.settings.system_prompt, model.system_prompt) if p]
    if prompts:
        text = "\n\n".join(prompts)
        system = out.get("system")
        if isinstance(system, list):
            out["system"] = [{"type": "text", "text": text}, *system]
        else:
            out["system"] = f"{text}\n\n{system}" if system else text
    if tools := out.get("tools"):
        kept = [
            t
            for t in tools
            if messages_chat.is_custom(t)
            or messages_chat.server_tool(t, snapshot.native_tools) in decision.native_tools
        ]
        if kept:
            out["tools"] = kept
        else:
            out.pop("tools")
            out.pop("tool_choice", None)
    return out


def forwarded_headers(ex: Exchange) -> dict[str, str]:
    return {
        name.decode(): value.decode("latin-1")
        for name in FORWARDED
        if (value := ex.header(name)) is not None
    }


class NativeEncoder(StreamEncoder):
    """Relays the upstream's Messages events as they are, reading their usage."""

    def __init__(self, natives: Mapping[str, Any]) -> None:
        self.natives = natives
        self.seen = NativeUsage()

    def feed(self, item: NativeEvent) -> bytes:
        self.seen.observe(item.event, item.data)
        name = (item.event or item.data.get("type") or "message").encode()
        return b"event: " + name + b"\ndata: " + item.raw + b"\n\n"

    def end(self) -> bytes:
        return b""

    def fail(self, error: ProxyError) -> bytes:
        _, body = error_body(error)
        return error_event(body["error"]["type"], body["error"]["message"])

    def usage(self) -> Mapping[str, Any] | None:
        return usage_of(self.seen.usage, self.natives) if self.seen.usage else None


class TranslatedEncoder(MessagesEncoder, StreamEncoder):
    """Anthropic events written from the chat chunks of a translated answer."""

    def fail(self, error: ProxyError) -> bytes:
        _, body = error_body(error)
        return error_event(body["error"]["type"], body["error"]["message"])

    def usage(self) -> Mapping[str, Any] | None:
        return self.reported


class MessagesAPI(ClientAPI):
    protocol = "messages"
    event_runs = True  # MessagesEncoder takes runs of plain text events apart itself

    def translate(
        self, body: dict[str, Any], consumer: Consumer, snapshot: Snapshot, recalled: Any = None
    ) -> Translated:
        return Translated(messages_chat.to_chat(body, snapshot.native_tools), body)

    def native(
        self, translated: Translated, decision: policy.Decision, snapshot: Snapshot, ex: Exchange
    ) -> NativeRequest:
        assert translated.model is not None
        body = with_policy(translated.native, decision, translated.model, snapshot)
        translated.extra["natives"] = decision.native_tools
        return NativeRequest(self.protocol, body, forwarded_headers(ex))

    def answer(
        self, reply: Reply, translated: Translated
    ) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        body = dict(reply.body or {})
        if reply.native:
            return body, usage_of(body.get("usage") or {}, _natives(translated))
        return messages_chat.to_message(body, translated.native["model"]), body.get("usage")

    def encoder(self, translated: Translated, native: bool) -> StreamEncoder:
        if native:
            return NativeEncoder(_natives(translated))
        return TranslatedEncoder(translated.native["model"])

    def error(self, error: ProxyError) -> tuple[int, Mapping[str, Any]]:
        return error_body(error)


def _natives(translated: Translated) -> Mapping[str, Any]:
    return translated.extra.get("natives") or {}


API = MessagesAPI()


async def handle(app: ProxyApp, ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
    await app.pipeline.run(ex, loaded, consumer, endpoint(API, ex, consumer, app.pipeline.router))


async def count_tokens(app: ProxyApp, ex: Exchange, loaded: Loaded, consumer: Consumer) -> None:
    """Counted by an Anthropic channel when the model has one, else estimated (one token per
    four characters of the prompt the model would see, the proxy's documented estimate).
    Not an inference: nothing is accounted."""
    pipeline = app.pipeline
    length, destination = inference_headers(ex.headers)
    body, _ = await read_json(ex, loaded, length)
    if not isinstance(body.get("model"), str):
        raise InvalidRequest("model: Field required", param="model")
    snapshot = loaded.snapshot
    model = resolve(snapshot, body["model"], consumer)
    chat = messages_chat.to_chat({"max_tokens": 1, **body}, snapshot.native_tools)
    validate.check_chat(chat)
    decision = policy.apply(snapshot, model, chat, "chat")
    if pipeline.router.takes_natively(snapshot, model, "messages.count_tokens"):
        native = NativeRequest(
            "messages.count_tokens",
            with_policy(body, decision, model, snapshot),
            forwarded_headers(ex),
        )
        routed = Routed(
            "messages.count_tokens",
            decision.body,
            model,
            consumer,
            destination,
            decision.native_tools,
            ex.request_id,
            native=native,
        )
        reply = await pipeline.router.send(loaded, routed, Outcome())
        answer = dict(reply.body or {})
    else:
        answer = {"input_tokens": Meter("chat", "", decision.body).usage().input_tokens}
    await ex.respond(200, dumps(answer))
