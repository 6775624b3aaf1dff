"""The static upstream of the benchmark: canned OpenAI answers served by nginx on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

#: Where the plain and the streamed answers live; a provider's base_url picks one of them.
PLAIN_PREFIX = "/v1"
STREAM_PREFIX = "/sse/v1"
CHAT_PATH = "/chat/completions"

_ID = "chatcmpl-bench"
_CREATED = 1_700_000_000
_USAGE = {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22}
_WORDS = (
    "Hello",
    " from",
    " the",
    " benchmark",
    " upstream",
    ",",
    " one",
    " word",
    " at",
    " a time.",
)


class RequestProtocol(asyncio.Protocol):
    """A raw asyncio upstream for benchmarks: each whole HTTP request's head (its body, sized
    by Content-Length, read and skipped) goes to `answer`, which writes to `transport`."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.answer(head)

    def answer(self, head: bytes) -> None:
        raise NotImplementedError


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def chat_completion() -> str:
    """A complete `chat.completion` JSON answer, as an OpenAI upstream sends it."""
    return _compact(
        {
            "id": _ID,
            "object": "chat.completion",
            "created": _CREATED,
            "model": "bench-upstream",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(_WORDS)},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _USAGE,
        }
    )


def _chunk(choices: list[dict], usage: dict | None = None) -> str:
    body = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": "bench-upstream",
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return f"data: {_compact(body)}\n\n"


def chat_stream() -> str:
    """An SSE answer: a role chunk, ten content chunks, a finish chunk, a usage chunk, [DONE].

    The usage chunk (empty choices) is what OpenAI sends for `stream_options.include_usage`.
    """
    events = [
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    ]
    events += [
        _chunk([{"index": 0, "delta": {"content": w}, "finish_reason": None}]) for w in _WORDS
    ]
    events.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(_chunk([], usage=_USAGE))
    events.append("data: [DONE]\n\n")
    return "".join(events)


def _nginx_string(text: str) -> str:
    """Quote text for an nginx config: single quotes, with newlines as nginx's \\n escape."""
    if "'" in text or "\\" in text:
        raise ValueError("canned bodies must not hold quotes or backslashes")
    return "'" + text.replace("\n", "\\n") + "'"


#: Stream shapes: the benchmark's first 13-event stream, or OpenAI's own chunk shape
#: (`"usage": null` on every chunk, 200 events; benchmarks/proxy/shapes.py).
STREAM_SHAPES = ("current", "openai200")


def _stream_location(prefix: Path, shape: str) -> str:
    """How nginx answers a streamed request: the canned text in the config, or (too long
    for one config token) a file, which nginx serves to a POST through its 405 page."""
    if shape == "current":
        return f"return 200 {_nginx_string(chat_stream())};"
    from benchmarks.proxy.shapes import openai_stream

    if shape != "openai200":
        raise ValueError(f"unknown stream shape {shape!r}")
    (prefix / "stream.sse").write_text(openai_stream(200))
    (prefix / "stream.sse").chmod(0o644)
    for directory in (prefix, prefix.parent):  # nginx's worker (as root: nobody) reads it
        directory.chmod(directory.stat().st_mode | 0o011)
    return f"alias {prefix}/stream.sse; error_page 405 =200 $uri;"


def nginx_config(prefix: Path, port: int, stream_shape: str = "current") -> str:
    """One worker, loopback only, no logs on the request path, long keep-alive."""
    return f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port};
        location = {PLAIN_PREFIX}{CHAT_PATH} {{
            default_type application/json;
            return 200 {_nginx_string(chat_completion())};
        }}
        location = {STREAM_PREFIX}{CHAT_PATH} {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            {_stream_location(prefix, stream_shape)}
        }}
        location / {{ return 404; }}
    }}
}}
"""


def nginx_command(prefix: Path, port: int, stream_shape: str = "current") -> list[str]:
    """Write the config under `prefix` and return the command that runs nginx in front."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port, stream_shape))
    return ["nginx", "-p", str(prefix), "-c", str(conf)]
