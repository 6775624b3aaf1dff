"""The inference endpoints by path: what each supplies to the one pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Model, Snapshot
from gateway.proxy import media, policy, validate
from gateway.proxy.pipeline import Endpoint, Files, Prepared


def _policy(endpoint: str):  # noqa: ANN202 - the pipeline's `prepare` for chat or embeddings
    def prepare(snapshot: Snapshot, model: Model, body: dict[str, Any], files: Files) -> Prepared:
        decision = policy.apply(snapshot, model, body, endpoint)
        return Prepared(decision.body, decision.native_tools, decision.dropped_tools)

    return prepare


def _streams(body: Mapping[str, Any]) -> bool:
    return bool(body.get("stream"))


CHAT = Endpoint("chat", _policy("chat"), check=validate.check_chat, streams=_streams)
EMBEDDINGS = Endpoint("embeddings", _policy("embeddings"), check=validate.check_embeddings)


def _media(name: str) -> Endpoint:
    return Endpoint(name, media.preparer(name), read=media.reader(name), measure=media.measure)


#: POST paths of the inference endpoints; other modules add theirs (client protocols).
POST: dict[str, Endpoint] = {
    "/v1/chat/completions": CHAT,
    "/v1/embeddings": EMBEDDINGS,
    "/v1/images/generations": _media("images.generations"),
    "/v1/images/edits": _media("images.edits"),
    "/v1/audio/speech": _media("audio.speech"),
    "/v1/audio/transcriptions": _media("audio.transcriptions"),
}
