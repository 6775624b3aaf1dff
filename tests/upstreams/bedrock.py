"""A fake Amazon Bedrock runtime (Converse, ConverseStream) on loopback, checking SigV4 itself.

Signatures are recomputed here from the request as received, with hashlib and hmac following
the SigV4 specification (not botocore, which signs on the client side); a mismatch is refused
with 403 InvalidSignatureException as AWS does. Answers come from the examples of the Bedrock
user guide (the pop songs answer, the top_song tool); InvokeModel with a Messages body gets
the fake Anthropic API's answers. The model id picks a failure: `throttled`, `invalid`,
`not-ready`, `stream-throttled`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import struct
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstreams import anthropic as fake_anthropic

ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"

POP_SONGS = (
    "Here is a list of 3 pop songs by artists from the United Kingdom:\n\n"
    '1. "Wannabe" by Spice Girls\n2. "Bitter Sweet Symphony" by The Verve \n'
    '3. "Don\'t Look Back in Anger" by Oasis'
)
TOP_SONG = "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike."
IMAGE_TEXT = "The image shows a single pixel."
TOOL_USE = {
    "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
    "name": "top_song",
    "input": {"sign": "WZPZ"},
}


def converse_response(
    content: list[dict[str, Any]], stop: str, usage: tuple[int, int]
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": usage[0], "outputTokens": usage[1], "totalTokens": sum(usage)},
        "metrics": {"latencyMs": 1175},
    }


# --- event-stream frames ----------------------------------------------------------------------


def frame(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message: prelude, prelude CRC, string headers, payload, CRC."""
    head = b"".join(
        struct.pack(">B", len(k)) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(head) + len(body), len(head))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + head + body
    return message + struct.pack(">I", binascii.crc32(message))


def event(name: str, payload: dict[str, Any]) -> bytes:
    return frame(
        {":event-type": name, ":content-type": "application/json", ":message-type": "event"},
        payload,
    )


def exception(name: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": name,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        {"message": message},
    )


def _text_stream(pieces: list[str], usage: tuple[int, int]) -> list[bytes]:
    return [
        event("messageStart", {"role": "assistant"}),
        *[
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}})
            for p in pieces
        ],
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event(
            "metadata",
            {
                "usage": {
                    "inputTokens": usage[0],
                    "outputTokens": usage[1],
                    "totalTokens": sum(usage),
                },
                "metrics": {"latencyMs": 812},
            },
        ),
    ]


POP_SONGS_STREAM = b"".join(
    _text_stream([POP_SONGS[:40], POP_SONGS[40:95], POP_SONGS[95:]], (125, 60))
)
TOOL_USE_STREAM = b"".join(
    [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": TOOL_USE["toolUseId"], "name": "top_song"}},
            },
        ),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": ""}}}),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"sign": '}}},
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"WZPZ"}'}}},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {
                "usage": {
                    "inputTokens": 379,
                    "outputTokens": 36,
                    "totalTokens": 415,
                    "cacheReadInputTokens": 12,
                },
                "metrics": {"latencyMs": 903},
            },
        ),
    ]
)
REASONING_STREAM = b"".join(
    [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "27 * 453 = 12,231"}}},
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqQBCgIYAhIM"}}},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "12,231"}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event("messageStop", {"stopReason": "end_turn"}),
        event("metadata", {"usage": {"inputTokens": 20, "outputTokens": 40, "totalTokens": 60}}),
    ]
)
#: Nova web grounding: Bedrock runs the `nova_grounding` system tool (a `toolUse` block of
#: type `server_tool_use`), then answers from what it found.
GROUNDED = "Spain won Euro 2024, beating England 2-1 in the final."
GROUNDING_USE = {
    "toolUseId": "tooluse_grounding_1",
    "name": "nova_grounding",
    "type": "server_tool_use",
    "input": {},
}
GROUNDED_USAGE = (1320, 24)
GROUNDED_STREAM = b"".join(
    [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {k: v for k, v in GROUNDING_USE.items() if k != "input"}},
            },
        ),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{}"}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        *[
            event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": piece}})
            for piece in (GROUNDED[:20], GROUNDED[20:])
        ],
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event("messageStop", {"stopReason": "end_turn"}),
        event(
            "metadata",
            {
                "usage": {
                    "inputTokens": GROUNDED_USAGE[0],
                    "outputTokens": GROUNDED_USAGE[1],
                    "totalTokens": sum(GROUNDED_USAGE),
                },
                "metrics": {"latencyMs": 2210},
            },
        ),
    ]
)
THROTTLED_STREAM = event("messageStart", {"role": "assistant"}) + exception(
    "throttlingException", "Too many tokens, please wait."
)


# --- SigV4, recomputed independently ----------------------------------------------------------

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)"
    r"/(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def canonical_request(
    method: str, raw_path: str, query: str, headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    """The SigV4 canonical request; not S3, so the received path is URI-encoded once more."""
    return "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),
            "&".join(sorted(query.split("&"))) if query else "",
            "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def signature(secret: str, amz_date: str, region: str, service: str, canonical: str) -> str:
    """The SigV4 signature of a canonical request, by the derived signing key."""
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def sigv4_problem(request: Request, body: bytes, secrets: dict[str, str]) -> str | None:
    """Why the request's SigV4 signature is wrong, or None when it is right."""
    match = _AUTH.match(request.headers.get("authorization", ""))
    if match is None:
        return "missing or malformed Authorization header"
    if match["key"] not in secrets:
        return "The security token included in the request is invalid."
    if (match["region"], match["service"]) != (REGION, "bedrock"):
        return "Credential should be scoped to a valid region and service"
    signed = match["signed"].split(";")
    amz_date = request.headers.get("x-amz-date", "")
    if not {"host", "x-amz-date"} <= set(signed) or amz_date[:8] != match["date"]:
        return "host and x-amz-date must be signed, on the credential's date"
    canonical = canonical_request(
        request.method,
        request.scope["raw_path"].decode(),
        request.scope["query_string"].decode(),
        dict(request.headers),
        signed,
        body,
    )
    expected = signature(secrets[match["key"]], amz_date, REGION, "bedrock", canonical)
    if not hmac.compare_digest(expected, match["signature"]):
        return (
            "The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method."
        )
    return None


# --- the app ----------------------------------------------------------------------------------


def _error(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": message},
        status,
        {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


_FAILURES = {
    "throttled": (
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    ),
    "invalid": (
        400,
        "ValidationException",
        "The model returned the following errors: messages: roles must alternate",
    ),
    "not-ready": (429, "ModelNotReadyException", "Model is not ready for inference."),
}


def _answer(body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    blocks = body["messages"][-1]["content"]
    if any("toolResult" in b for b in blocks):
        return converse_response([{"text": TOP_SONG}], "end_turn", (428, 19)), b"".join(
            _text_stream([TOP_SONG], (428, 19))
        )
    if any("image" in b for b in blocks):
        return converse_response([{"text": IMAGE_TEXT}], "end_turn", (1551, 9)), b"".join(
            _text_stream([IMAGE_TEXT], (1551, 9))
        )
    tools = (body.get("toolConfig") or {}).get("tools") or []
    if tools and all("systemTool" in t for t in tools):
        grounded = converse_response(
            [{"toolUse": GROUNDING_USE}, {"text": GROUNDED}], "end_turn", GROUNDED_USAGE
        )
        return grounded, GROUNDED_STREAM
    if body.get("toolConfig"):
        return converse_response([{"toolUse": TOOL_USE}], "tool_use", (379, 36)), TOOL_USE_STREAM
    if "thinking" in body.get("additionalModelRequestFields", {}):
        return converse_response(
            [
                {
                    "reasoningContent": {
                        "reasoningText": {"text": "27 * 453 = 12,231", "signature": "EqQBCgIYAhIM"}
                    }
                },
                {"text": "12,231"},
            ],
            "end_turn",
            (20, 40),
        ), REASONING_STREAM
    return converse_response([{"text": POP_SONGS}], "end_turn", (125, 60)), POP_SONGS_STREAM


def _invoke(body: dict[str, Any], operation: str) -> Response:
    """InvokeModel with an Anthropic Messages body: Claude answers as on Anthropic's API
    (the fake Anthropic upstream's answers), streamed in `chunk` frames of base64 events."""
    if body.get("anthropic_version") != "bedrock-2023-05-31" or "model" in body:
        return _error(
            400,
            "ValidationException",
            "anthropic_version: bedrock-2023-05-31 is required; the model goes in the path",
        )
    message, stream = fake_anthropic.answer(body)
    if operation == "invoke":
        return JSONResponse(message)
    chunks = b""
    for block in stream.decode().strip().split("\n\n"):
        data = block.split("data: ", 1)[1]
        chunks += event("chunk", {"bytes": base64.b64encode(data.encode()).decode()})
    return Response(chunks, media_type="application/vnd.amazon.eventstream")


def make_app(received: list[dict[str, Any]], secrets: dict[str, str] | None = None) -> Starlette:
    """The fake runtime; every accepted request is appended to `received`."""
    secrets = secrets or {ACCESS_KEY_ID: SECRET_ACCESS_KEY}

    async def converse(request: Request) -> Response:
        body_bytes = await request.body()
        problem = sigv4_problem(request, body_bytes, secrets)
        if problem is not None:
            return _error(403, "InvalidSignatureException", problem)
        model_id = unquote(request.path_params["model_id"])
        body = json.loads(body_bytes)
        received.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "model_id": model_id,
                "raw_path": request.scope["raw_path"].decode(),
            }
        )
        if model_id in _FAILURES:
            return _error(*_FAILURES[model_id])
        if request.path_params["operation"].startswith("invoke"):
            return _invoke(body, request.path_params["operation"])
        message, stream = _answer(body)
        headers = {"x-amzn-RequestId": "f3a4b7c2-0000-4000-8000-000000000001"}
        if request.path_params["operation"] == "converse-stream":
            if model_id == "stream-throttled":
                stream = THROTTLED_STREAM
            return Response(
                stream, media_type="application/vnd.amazon.eventstream", headers=headers
            )
        return JSONResponse(message, headers=headers)

    return Starlette(
        routes=[Route("/model/{model_id:path}/{operation}", converse, methods=["POST"])]
    )
