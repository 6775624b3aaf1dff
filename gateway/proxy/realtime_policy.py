"""What a realtime session may ask of its model: instructions, tools and voices per event.

Only `session.update` and `response.create` can change what the model is told or may do,
so only those are parsed; every other event (audio appends above all) passes as it came.
The catalog's system prompts (global, then the model's) come first in every `instructions`
the client sets, and reach the session before the client's first event when it sets none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.catalog.snapshot import Model, Snapshot
from gateway.proxy.policy import filter_native_tools

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
#: Client events policy looks into, spelled as they appear in a frame.
_WATCHED = ('"session.update"', '"response.create"')


class EventRefused(Exception):
    """A client event the model may not take; answered with an `error` event, not relayed."""

    def __init__(
        self, message: str, *, param: str | None, code: str, event_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.code, self.event_id = message, param, code, event_id

    def event(self) -> dict[str, Any]:
        """The `error` server event of the protocol."""
        return {
            "type": "error",
            "event_id": f"event_proxy_{self.code}",
            "error": {
                "type": "invalid_request_error",
                "code": self.code,
                "message": self.message,
                "param": self.param,
                "event_id": self.event_id,
            },
        }


def system_prompts(snapshot: Snapshot, model: Model) -> str | None:
    prompts = [p for p in (snapshot.settings.system_prompt, model.system_prompt) if p]
    return "\n\n".join(prompts) if prompts else None


@dataclass(slots=True)
class SessionPolicy:
    """The policy of one session; `beta` when the client speaks the beta form."""

    snapshot: Snapshot
    model: Model
    beta: bool = False
    prompts: str | None = None
    instructed: bool = False  # the session has been given the system prompts

    def __post_init__(self) -> None:
        self.prompts = system_prompts(self.snapshot, self.model)
        self.instructed = self.prompts is None

    def client_frame(self, text: str) -> list[str]:
        """The frames to send upstream for one client frame (raises EventRefused)."""
        if not any(name in text for name in _WATCHED):
            return self._first(text)
        try:
            event = json.loads(text)
        except ValueError:
            return self._first(text)  # the upstream answers malformed events itself
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "session.update" and isinstance(event.get("session"), dict):
            session = dict(event["session"])
            self._check(session, event, "session")
            if "instructions" in session or not self.instructed:  # else the session's stay
                session["instructions"] = self._instructions(session.get("instructions"))
            self.instructed = True
            return [_encode({**event, "session": session})]
        if kind == "response.create" and isinstance(event.get("response"), dict):
            response = dict(event["response"])
            self._check(response, event, "response")
            if "instructions" in response:  # replaces the session's for this response
                response["instructions"] = self._instructions(response["instructions"])
            return self._first(_encode({**event, "response": response}))
        return self._first(text)

    def _first(self, text: str) -> list[str]:
        """`text`, preceded by the system prompts if the session has not had them yet."""
        if self.instructed:
            return [text]
        self.instructed = True
        session: dict[str, Any] = {"instructions": self.prompts}
        if not self.beta:
            session["type"] = "realtime"
        update = {
            "type": "session.update",
            "event_id": "event_proxy_instructions",
            "session": session,
        }
        return [_encode(update), text]

    def _instructions(self, client: Any) -> str | None:
        if self.prompts is None:
            return client if isinstance(client, str) else None
        if isinstance(client, str) and client:
            return f"{self.prompts}\n\n{client}"
        return self.prompts

    def _check(self, config: dict[str, Any], event: Mapping[str, Any], where: str) -> None:
        """Voice and tools of a session or response config; native tools filtered."""
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        voice, path = _voice(config)
        voices = self.model.properties.get("voices")
        if voice is not None and voices and voice not in voices:
            raise EventRefused(
                f"voice `{voice}` is not offered by model `{self.model.name}`; "
                f"choose one of: {', '.join(voices)}",
                param=f"{where}.{path}",
                code="unsupported_voice",
                event_id=event_id,
            )
        tools = config.get("tools")
        if not isinstance(tools, list):
            return
        if (
            any(isinstance(t, dict) and t.get("type") == "function" for t in tools)
            and "tools" not in self.model.capabilities
        ):
            raise EventRefused(
                f"model `{self.model.name}` does not support tool calling (capability `tools`)",
                param=f"{where}.tools",
                code="capability_not_supported",
                event_id=event_id,
            )
        decision = filter_native_tools(config, self.model, self.snapshot)
        if decision.dropped_tools:
            config.clear()
            config.update(decision.body)


def _voice(config: Mapping[str, Any]) -> tuple[str | None, str]:
    """The voice a config asks for, and where: GA `audio.output.voice`, beta `voice`."""
    audio = config.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    voice = output.get("voice") if isinstance(output, dict) else None
    path = "audio.output.voice"
    if voice is None:
        voice, path = config.get("voice"), "voice"
    if isinstance(voice, dict):  # a custom voice: {"id": "voice_1234"}
        voice = voice.get("id")
    return (voice if isinstance(voice, str) else None), path
