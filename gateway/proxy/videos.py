"""The video endpoints (the OpenAI Videos API): a job is created through routing, then
bound to the channel that created it.

`POST /v1/videos` routes like any request (failover before the job exists) and stores the
job under an id of the proxy's own, mapped to its channel, the upstream's id and the
consumer. Status, content and delete go to that channel only; a job of another consumer is
a 404 like one that never existed. A job is billed once, per second of video (by size where
the price says), when the proxy first sees it completed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from gateway.catalog.snapshot import Channel, Consumer, Model, Snapshot
from gateway.errors import InvalidRequest, NoChannelAvailable, NotFound, UnknownURL
from gateway.proxy import multipart, video_policy
from gateway.proxy.adapters.base import Reply
from gateway.proxy.body import parse_json_object, read_body
from gateway.proxy.exchange import Exchange, dumps
from gateway.proxy.meter import Meter
from gateway.proxy.pipeline import Endpoint, Files, Pipeline, Prepared
from gateway.proxy.relay import relay_bytes
from gateway.proxy.reload import Loaded
from gateway.proxy.router import Outcome, Routed
from gateway.state.documents import DocumentStore
from gateway.usage.pricing import Usage

PREFIX = "/v1/videos"
COLLECTION = "videos"
LIST_LIMIT, MAX_LIST_LIMIT = 20, 100
MAX_LISTED = 1000  # a consumer's jobs a list pages through
#: How long the proxy remembers a job: past this its id is unknown (404). Upstreams keep
#: generated videos for about a day; the record of which channel holds one outlives that.
JOB_TTL_S = 7 * 24 * 3600


async def handle(
    pipeline: Pipeline, ex: Exchange, loaded: Loaded, consumer: Consumer, documents: DocumentStore
) -> None:
    """Dispatch one request under /v1/videos; creating a job is the pipeline's."""
    method, path = ex.scope["method"], ex.scope["path"]
    parts = path[len(PREFIX) :].strip("/").split("/") if path != PREFIX else []
    jobs = Jobs(pipeline, ex, loaded, consumer, documents)
    if not parts:
        if method == "POST":
            return await pipeline.run(ex, loaded, consumer, endpoint(documents))
        if method == "GET":
            return await jobs.list()
    elif len(parts) == 1 and parts[0]:
        if method == "GET":
            return await jobs.retrieve(parts[0])
        if method == "DELETE":
            return await jobs.delete(parts[0])
    elif len(parts) == 2 and parts[1] == "content":
        if method == "GET":
            return await jobs.content(parts[0])
    else:
        raise UnknownURL(f"Unknown request URL: {method} {path}")
    raise InvalidRequest(f"method {method} is not allowed on {path}", code="method_not_allowed")


# ----- creating a job: an endpoint of the pipeline -----


async def _read(ex: Exchange, loaded: Loaded, length: int | None) -> tuple[dict[str, Any], Files]:
    """The SDK sends multipart/form-data (a reference image may come along); JSON works too."""
    raw = await read_body(ex.receive, loaded.snapshot.settings.max_request_bytes, length)
    content_type = (ex.header(b"content-type") or b"").decode("latin-1")
    if content_type.startswith("multipart/"):
        return multipart.parse(raw, content_type)
    return parse_json_object(raw), {}


def _prepare(snapshot: Snapshot, model: Model, fields: dict[str, Any], files: Files) -> Prepared:
    return Prepared(video_policy.check(model, fields))


def _unbilled(routed: Routed, reply: Reply) -> Usage:
    return Usage()  # creating costs nothing: the job is billed when it completes


def endpoint(documents: DocumentStore) -> Endpoint:
    """`POST /v1/videos` over the job store `documents`."""

    async def bind(routed: Routed, outcome: Outcome, reply: Reply) -> Reply:
        """Store the new job under an id of the proxy's, bound to the channel that holds it."""
        upstream = reply.body or {}
        if not isinstance(upstream.get("id"), str) or outcome.channel is None:
            raise NoChannelAvailable("the upstream answered a video job without an id")
        video_id = f"video_{secrets.token_hex(16)}"
        job = {
            "channel": outcome.channel.name,
            "model": routed.model.name,
            "requested_model": str(routed.body["model"]),
            "upstream_id": upstream["id"],
            "billed": False,
            "video": _view(video_id, str(routed.body["model"]), upstream),
        }
        await documents.put(
            COLLECTION, video_id, owner=routed.consumer.name, document=job, ttl_s=JOB_TTL_S
        )
        return Reply(body=job["video"], status=reply.status)

    return Endpoint("videos", _prepare, read=_read, measure=_unbilled, finish=bind)


def _view(video_id: str, requested_model: str, upstream: Mapping[str, Any]) -> dict[str, Any]:
    """The upstream's video object as the client sees it: our id, the model it asked for."""
    return {**upstream, "id": video_id, "model": requested_model, "remixed_from_video_id": None}


class Jobs:
    """The requests about existing jobs of one exchange."""

    def __init__(
        self,
        pipeline: Pipeline,
        ex: Exchange,
        loaded: Loaded,
        consumer: Consumer,
        documents: DocumentStore,
    ) -> None:
        self.pipeline, self.ex, self.loaded = pipeline, ex, loaded
        self.consumer, self.documents = consumer, documents

    async def list(self) -> None:
        query = parse_qs(self.ex.scope.get("query_string", b"").decode("latin-1"))
        order = (query.get("order") or ["desc"])[0]
        if order not in ("asc", "desc"):
            raise InvalidRequest("`order` must be asc or desc", param="order")
        raw_limit = (query.get("limit") or [str(LIST_LIMIT)])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST_LIMIT:
            raise InvalidRequest(
                f"`limit` must be a number from 1 to {MAX_LIST_LIMIT}", param="limit"
            )
        rows = [
            job["video"]
            for job in await self.documents.list(
                COLLECTION, owner=self.consumer.name, limit=MAX_LISTED
            )
        ]
        if order == "asc":
            rows.reverse()
        after = (query.get("after") or [None])[0]
        if after is not None:
            ids = [video["id"] for video in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else []
        page = rows[: int(raw_limit)]
        await self.ex.respond(
            200,
            dumps(
                {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                    "has_more": len(rows) > int(raw_limit),
                }
            ),
        )

    # ----- a job's own requests, sent to its channel -----

    async def retrieve(self, video_id: str) -> None:
        job, channel, routed = await self._bound(video_id, "videos.retrieve")
        reply = await self.pipeline.router.send_to(self.loaded, routed, channel)
        video = await self._save(video_id, job, reply.body or {})
        await self.ex.respond(200, dumps(video), [(b"x-modelyard-channel", channel.name.encode())])

    async def content(self, video_id: str) -> None:
        job, channel, routed = await self._bound(video_id, "videos.content")
        query = parse_qs(self.ex.scope.get("query_string", b"").decode("latin-1"))
        variant = (query.get("variant") or [None])[0]
        if variant not in (None, "video", "thumbnail", "spritesheet"):
            raise InvalidRequest(
                "`variant` must be video, thumbnail or spritesheet", param="variant"
            )
        routed.body = {**routed.body, "variant": variant}
        reply = await self.pipeline.router.send_to(self.loaded, routed, channel)
        await self._bill(video_id, job, {**job["video"], "status": "completed"})
        headers = [(b"x-modelyard-channel", channel.name.encode())]
        if reply.chunks is not None:
            await relay_bytes(self.ex, reply.status, reply.content_type, reply.chunks, headers)
        else:
            await self.ex.respond(
                reply.status, reply.content or b"", headers, reply.content_type.encode()
            )

    async def delete(self, video_id: str) -> None:
        _job, channel, routed = await self._bound(video_id, "videos.delete")
        await self.pipeline.router.send_to(self.loaded, routed, channel)
        await self.documents.delete(COLLECTION, video_id, owner=self.consumer.name)
        await self.ex.respond(
            200, dumps({"id": video_id, "object": "video.deleted", "deleted": True})
        )

    # ----- the job store and billing -----

    async def _bound(self, video_id: str, endpoint: str) -> tuple[dict[str, Any], Channel, Routed]:
        """The consumer's job, its channel and the call to make there; 404 for anyone else."""
        job = await self.documents.get(COLLECTION, video_id, owner=self.consumer.name)
        if job is None:
            raise NotFound(
                f"No video found with id '{video_id}'.", param="video_id", code="video_not_found"
            )
        snapshot = self.loaded.snapshot
        channel = snapshot.channels.get(job["channel"])
        model = snapshot.resolve_name(job["model"])
        if channel is None or model is None:
            raise NoChannelAvailable(
                f"the channel that created video '{video_id}' is no longer in the catalog"
            )
        body = {"model": job["requested_model"], "video_id": job["upstream_id"]}
        return (
            job,
            channel,
            Routed(endpoint, body, model, self.consumer, None, {}, self.ex.request_id),
        )

    async def _save(
        self, video_id: str, job: dict[str, Any], upstream: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store the upstream's latest word on the job; bill it the first time it is done."""
        video = _view(video_id, job["requested_model"], upstream)
        job["video"] = video
        if video.get("status") == "completed":
            await self._bill(video_id, job, video)
        else:
            await self._put(video_id, job)
        return video

    async def _put(self, video_id: str, job: dict[str, Any]) -> None:
        await self.documents.put(
            COLLECTION, video_id, owner=self.consumer.name, document=job, ttl_s=JOB_TTL_S
        )

    async def _bill(self, video_id: str, job: dict[str, Any], video: dict[str, Any]) -> None:
        current = await self.documents.get(COLLECTION, video_id, owner=self.consumer.name)
        if current is not None and current.get("billed"):
            await self._put(video_id, {**job, "billed": True})  # the latest word, billed before
            return
        job["billed"] = True
        await self._put(video_id, job)
        snapshot = self.loaded.snapshot
        channel = snapshot.channels.get(job["channel"])
        model = snapshot.resolve_name(job["model"])
        seconds = str(video.get("seconds") or "0")
        usage = Usage(
            video_seconds=Decimal(seconds) if seconds.isdigit() else Decimal(0),
            video_size=str(video.get("size") or ""),
        )
        routed = Routed("videos", {}, model, self.consumer, None, {}, video_id)  # type: ignore[arg-type]
        meter = Meter("videos", job["requested_model"], {})
        self.pipeline.record(routed, meter, Outcome(channel, 1), 200, usage=usage)
