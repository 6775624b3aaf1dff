"""The mock protocol's video jobs: stateless, offline, completed after a short delay.

A job's id carries what it needs (creation time, seconds, size, a digest of the prompt),
so status, content and delete need no memory: the job is `in_progress` until the channel's
`mock_video_delay_s` (default 1 s) has passed, then `completed`, and its content is a tiny
valid MP4 (ftyp, moov with a video track of the asked size and length, mdat).
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.errors import UpstreamStatusError
from gateway.proxy.adapters.base import Call, Reply

DELAY_S = 1.0
DEFAULT_SECONDS, DEFAULT_SIZE = "4", "720x1280"
TIMESCALE = 1000
CONTENT_CHUNK = 256


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(kind: bytes, version_flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version_flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4(seconds: int, width: int, height: int, seed: bytes = b"") -> bytes:
    """A minimal well-formed MP4: one video track of `seconds` at `width`×`height`, no
    samples (players show nothing; parsers see a valid file of that length and size)."""
    duration = seconds * TIMESCALE
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")
    mvhd = _full(
        b"mvhd",
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration),
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),
    )
    tkhd = _full(
        b"tkhd",
        3,
        struct.pack(">IIII", 0, 0, 1, 0),
        struct.pack(">I", duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full(
        b"mdhd", 0, struct.pack(">IIII", 0, 0, TIMESCALE, duration), struct.pack(">HH", 0x55C4, 0)
    )  # language "und"
    hdlr = _full(b"hdlr", 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    dref = _full(b"dref", 0, struct.pack(">I", 1), _full(b"url ", 1))
    stbl = _box(
        b"stbl",
        _full(b"stsd", 0, struct.pack(">I", 0)),
        _full(b"stts", 0, struct.pack(">I", 0)),
        _full(b"stsc", 0, struct.pack(">I", 0)),
        _full(b"stsz", 0, struct.pack(">II", 0, 0)),
        _full(b"stco", 0, struct.pack(">I", 0)),
    )
    minf = _box(b"minf", _full(b"vmhd", 1, bytes(8)), _box(b"dinf", dref), stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    return ftyp + _box(b"moov", mvhd, trak) + _box(b"mdat", hashlib.sha256(seed).digest())


def _job_id(created_ms: int, seconds: str, size: str, prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return f"video_mock_{created_ms}_{seconds}_{size}_{digest}"


def _parse(video_id: str) -> tuple[int, str, str] | None:
    parts = video_id.split("_")
    if len(parts) != 6 or parts[:2] != ["video", "mock"] or not parts[2].isdigit():
        return None
    return int(parts[2]), parts[3], parts[4]


def _object(call: Call, video_id: str) -> dict[str, Any]:
    parsed = _parse(video_id)
    if parsed is None:
        raise UpstreamStatusError(
            "no such video",
            status=404,
            retryable=False,
            body={
                "error": {
                    "message": f"video {video_id} not found",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "not_found",
                }
            },
        )
    created_ms, seconds, size = parsed
    delay = float(call.channel.options.get("mock_video_delay_s", DELAY_S))
    elapsed = time.time() - created_ms / 1000
    done = elapsed >= delay
    return {
        "id": video_id,
        "object": "video",
        "model": call.channel.upstream_model,
        "status": "completed" if done else "in_progress",
        "progress": 100 if done else int(100 * elapsed / delay) if delay else 0,
        "created_at": created_ms // 1000,
        "completed_at": (created_ms // 1000 + int(delay)) if done else None,
        "expires_at": None,
        "error": None,
        "remixed_from_video_id": None,
        "seconds": seconds,
        "size": size,
    }


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CONTENT_CHUNK):
        yield data[start : start + CONTENT_CHUNK]


def reply(call: Call) -> Reply:
    """Answer a video call of the mock (create, retrieve, content, delete)."""
    body = call.body
    if call.endpoint == "videos":
        seconds = str(body.get("seconds") or DEFAULT_SECONDS)
        size = str(body.get("size") or DEFAULT_SIZE)
        video_id = _job_id(int(time.time() * 1000), seconds, size, str(body.get("prompt")))
        return Reply(
            body={
                **_object(call, video_id),
                "status": "queued",
                "progress": 0,
                "prompt": body.get("prompt"),
            }
        )
    video = _object(call, str(body.get("video_id")))
    if call.endpoint == "videos.delete":
        return Reply(body={"id": video["id"], "object": "video.deleted", "deleted": True})
    if call.endpoint == "videos.content":
        if video["status"] != "completed":
            raise UpstreamStatusError(
                "video not ready",
                status=404,
                retryable=False,
                body={
                    "error": {
                        "message": "the video is not ready yet",
                        "param": None,
                        "type": "invalid_request_error",
                        "code": "video_not_ready",
                    }
                },
            )
        if body.get("variant") not in (None, "video"):  # thumbnail, spritesheet: a still
            from gateway.proxy.adapters.mock_media import png

            return Reply(
                content=png(hashlib.sha256(video["id"].encode()).digest()), content_type="image/png"
            )
        width, height = (int(n) for n in video["size"].split("x"))
        data = mp4(int(video["seconds"]), width, height, video["id"].encode())
        return Reply(chunks=_chunks(data), content_type="video/mp4")
    return Reply(body=video)
