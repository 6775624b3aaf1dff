"""A fake OpenAI Videos API upstream: jobs advance one step per status request
(queued → in_progress → completed), content is an MP4 streamed in chunks.

It records every request (method, path, auth header, form fields) so tests can see which
upstream each call of a job reached; `refuse_create` answers job creation with that status.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.proxy.adapters.mock_video import mp4
from tests.upstreams.media import read_form

STEPS = ("queued", "in_progress", "completed")


class FakeVideos:
    def __init__(self, *, refuse_create: int | None = None, name: str = "up") -> None:
        self.refuse_create = refuse_create
        self.name = name
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/videos", self.create, methods=["POST"]),
                Route("/v1/videos/{video_id}", self.retrieve, methods=["GET"]),
                Route("/v1/videos/{video_id}", self.delete, methods=["DELETE"]),
                Route("/v1/videos/{video_id}/content", self.content, methods=["GET"]),
            ]
        )

    def _record(self, request: Request, **more: Any) -> None:
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "authorization": request.headers.get("authorization"),
                **more,
            }
        )

    def _missing(self, video_id: str) -> Response:
        return JSONResponse(
            {
                "error": {
                    "message": f"Video {video_id} not found",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "not_found",
                }
            },
            status_code=404,
        )

    async def create(self, request: Request) -> Response:
        fields, files = read_form(await request.body(), request.headers["content-type"])
        self._record(
            request, fields=fields, files=[f for name in sorted(files) for f in files[name]]
        )
        if self.refuse_create:
            return JSONResponse(
                {"error": {"message": "busy", "type": "server_error"}},
                status_code=self.refuse_create,
            )
        video_id = f"video_{self.name}_{len(self.jobs) + 1}"
        job = {
            "id": video_id,
            "object": "video",
            "model": fields["model"],
            "status": "queued",
            "progress": 0,
            "created_at": int(time.time()),
            "completed_at": None,
            "expires_at": None,
            "error": None,
            "prompt": fields["prompt"],
            "remixed_from_video_id": None,
            "seconds": fields.get("seconds", "4"),
            "size": fields.get("size", "720x1280"),
        }
        self.jobs[video_id] = job
        return JSONResponse(job)

    async def retrieve(self, request: Request) -> Response:
        video_id = request.path_params["video_id"]
        self._record(request)
        job = self.jobs.get(video_id)
        if job is None:
            return self._missing(video_id)
        step = min(STEPS.index(job["status"]) + 1, len(STEPS) - 1)
        job.update(status=STEPS[step], progress=step * 50)
        if job["status"] == "completed":
            job["completed_at"] = int(time.time())
        return JSONResponse(job)

    async def delete(self, request: Request) -> Response:
        video_id = request.path_params["video_id"]
        self._record(request)
        if self.jobs.pop(video_id, None) is None:
            return self._missing(video_id)
        return JSONResponse({"id": video_id, "object": "video.deleted", "deleted": True})

    async def content(self, request: Request) -> Response:
        video_id = request.path_params["video_id"]
        self._record(request)
        job = self.jobs.get(video_id)
        if job is None or job["status"] != "completed":
            return self._missing(video_id)
        width, height = (int(n) for n in job["size"].split("x"))
        data = mp4(int(job["seconds"]), width, height, video_id.encode())

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 100):
                yield data[start : start + 100]

        return StreamingResponse(chunks(), media_type="video/mp4")
