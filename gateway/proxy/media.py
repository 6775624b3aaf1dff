"""What the images and audio endpoints supply to the pipeline: JSON or multipart bodies, the
media policy, and the usage the proxy measures from their answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.catalog.snapshot import Model, Snapshot
from gateway.proxy import media_policy, multipart
from gateway.proxy.adapters.base import Reply, UploadFile
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.exchange import Exchange
from gateway.proxy.media_usage import media_usage
from gateway.proxy.pipeline import Prepared
from gateway.proxy.reload import Loaded
from gateway.proxy.router import Routed
from gateway.usage.pricing import Usage

Files = Mapping[str, UploadFile]

MULTIPART = frozenset({"images.edits", "audio.transcriptions"})
#: Room for the form fields around an upload of the largest allowed size.
FORM_OVERHEAD = 64 * 1024


def body_limit(loaded: Loaded, endpoint: str) -> int:
    """Largest body accepted: the global limit, raised for transcription to fit the largest
    `max_file_bytes` of a transcription model (each model's own limit is checked later)."""
    limit = loaded.snapshot.settings.max_request_bytes
    if endpoint == "audio.transcriptions":
        for model in loaded.snapshot.models:
            largest = (
                model.properties.get("max_file_bytes") if model.type == "transcription" else None
            )
            if isinstance(largest, int):
                limit = max(limit, largest + FORM_OVERHEAD)
    return limit


def reader(endpoint: str):  # noqa: ANN201 - the pipeline's `read` for one media endpoint
    async def read(
        ex: Exchange, loaded: Loaded, length: int | None
    ) -> tuple[dict[str, Any], Files]:
        """The request's fields and uploaded files (none for the JSON endpoints)."""
        raw = await read_body(ex.receive, body_limit(loaded, endpoint), length)
        if endpoint not in MULTIPART:
            return parse_json_object(raw), {}
        content_type = (ex.header(b"content-type") or b"").decode("latin-1")
        return multipart.parse(raw, content_type)

    return read


def preparer(endpoint: str):  # noqa: ANN201 - the pipeline's `prepare` for one media endpoint
    def prepare(snapshot: Snapshot, model: Model, fields: dict[str, Any], files: Files) -> Prepared:
        return Prepared(media_policy.apply(model, endpoint, fields, files))

    return prepare


def measure(routed: Routed, reply: Reply) -> Usage:
    """What a media request used, measured from its request and answer."""
    return media_usage(routed.endpoint, routed.model, routed.body, routed.files, reply)
