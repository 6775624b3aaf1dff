"""A fake OpenAI upstream that refuses function tools, as a model without tool support does:
a 400 naming the parameter, like OpenAI's answer to tools on a model that has none."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.upstreams.openai_like import FakeOpenAI

REFUSAL = {
    "message": "tools is not supported with this model.",
    "type": "invalid_request_error",
    "param": "tools",
    "code": "unsupported_parameter",
}


class RefusingTools(FakeOpenAI):
    """FakeOpenAI answering 400 to every chat request that carries `tools`."""

    async def _chat(self, request: Request) -> Response:
        body, behaviour, early = await self._begin(request)
        if early is not None:
            return early
        if body.get("tools"):
            return JSONResponse({"error": REFUSAL}, status_code=400)
        return self._chat_answer(request, body, behaviour)
