"""A fake GitHub REST API: the issue comment, event and label calls the catalog review makes,
held in memory and recorded, so the workflow's script runs against loopback."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT = {"login": "github-actions[bot]", "type": "Bot"}


@dataclass
class FakeGitHub:
    comments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    token: str = "test-token"
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    def add_comment(self, body: str, user: dict[str, str] | None = None) -> dict[str, Any]:
        comment = {"id": next(self._ids), "body": body, "user": user or BOT}
        self.comments.append(comment)
        return comment

    def label(self, name: str, actor: str) -> None:
        self.labels.append(name)
        self.events.append(
            {
                "id": next(self._ids),
                "event": "labeled",
                "actor": {"login": actor},
                "label": {"name": name},
            }
        )

    def bodies(self) -> list[str]:
        return [c["body"] for c in self.comments if c["user"] == BOT]

    @property
    def app(self) -> Starlette:
        async def guard(request: Request) -> Response | None:
            self.calls.append((request.method, request.url.path))
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"message": "Bad credentials"}, status_code=401)
            return None

        def page(items: list[dict[str, Any]], request: Request) -> JSONResponse:
            size = int(request.query_params.get("per_page", 30))
            number = int(request.query_params.get("page", 1))
            return JSONResponse(items[(number - 1) * size : number * size])

        async def comments(request: Request) -> Response:
            if (refused := await guard(request)) is not None:
                return refused
            if request.method == "POST":
                body = (await request.json())["body"]
                if len(body) > 65536:
                    return JSONResponse(
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {
                                    "resource": "IssueComment",
                                    "code": "custom",
                                    "field": "body",
                                    "message": "body is too long (maximum is 65536 characters)",
                                }
                            ],
                        },
                        status_code=422,
                    )
                return JSONResponse(self.add_comment(body), status_code=201)
            return page(self.comments, request)

        async def comment(request: Request) -> Response:
            if (refused := await guard(request)) is not None:
                return refused
            found = next(
                (c for c in self.comments if c["id"] == int(request.path_params["id"])), None
            )
            if found is None:
                return JSONResponse({"message": "Not Found"}, status_code=404)
            if request.method == "DELETE":
                self.comments.remove(found)
                return Response(status_code=204)
            body = (await request.json())["body"]
            if len(body) > 65536:
                return JSONResponse({"message": "Validation Failed"}, status_code=422)
            found["body"] = body
            return JSONResponse(found)

        async def events(request: Request) -> Response:
            if (refused := await guard(request)) is not None:
                return refused
            return page(self.events, request)

        async def label(request: Request) -> Response:
            if (refused := await guard(request)) is not None:
                return refused
            name = request.path_params["name"]
            if name not in self.labels:
                return JSONResponse({"message": "Label does not exist"}, status_code=404)
            self.labels.remove(name)
            self.events.append(
                {"id": next(self._ids), "event": "unlabeled", "actor": BOT, "label": {"name": name}}
            )
            return JSONResponse([{"name": n} for n in self.labels])

        base = "/repos/{owner}/{repo}/issues"
        return Starlette(
            routes=[
                Route(base + "/{number:int}/comments", comments, methods=["GET", "POST"]),
                Route(base + "/comments/{id:int}", comment, methods=["PATCH", "DELETE"]),
                Route(base + "/{number:int}/events", events, methods=["GET"]),
                Route(base + "/{number:int}/labels/{name}", label, methods=["DELETE"]),
            ]
        )
