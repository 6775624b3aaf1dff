"""Input tokens of images in a chat prompt, by OpenAI's documented rule, for upstreams that
report no usage (the estimate is marked `estimated` in the usage log).

Low detail costs 85 tokens. Otherwise the image is first fit within 2048 x 2048, then scaled
so its shortest side is 768 px (never up), and costs 85 + 170 per 512-px tile it covers.
Sizes come from the image's own header for data URLs (PNG, JPEG, GIF, WebP); an image we
cannot measure (a remote URL) is taken as 1024 x 1024: 765 tokens at high detail.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any

BASE_TOKENS, TILE_TOKENS, TILE_PX = 85, 170, 512
FIT_PX, SHORT_SIDE_PX = 2048, 768
UNKNOWN_SIZE = (1024, 1024)
HEADER_BYTES = 64 * 1024  # enough of any image to find its size


def tokens_for_size(width: int, height: int, detail: str = "auto") -> int:
    """Tokens of one image of `width` x `height` px at `detail`."""
    if detail == "low" or width <= 0 or height <= 0:
        return BASE_TOKENS
    w, h = float(width), float(height)
    if max(w, h) > FIT_PX:
        scale = FIT_PX / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > SHORT_SIDE_PX:
        scale = SHORT_SIDE_PX / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(round(w) / TILE_PX) * math.ceil(round(h) / TILE_PX)
    return BASE_TOKENS + TILE_TOKENS * tiles


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, WebP or JPEG header, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return (
            int.from_bytes(data[24:27], "little") + 1,
            int.from_bytes(data[27:30], "little") + 1,
        )
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[at + 5 : at + 9])
            return w, h
        at += 2 + length
    return None


def _data_url_bytes(url: str) -> bytes | None:
    head, _, payload = url.partition(",")
    if not head.startswith("data:") or not head.endswith(";base64"):
        return None
    # Only the start is needed: 4 base64 characters per 3 bytes.
    chunk = payload[: HEADER_BYTES // 3 * 4]
    try:
        return base64.b64decode(chunk + "=" * (-len(chunk) % 4))
    except (binascii.Error, ValueError):
        return None


def part_tokens(part: Mapping[str, Any]) -> int:
    """Tokens of one `image_url` content part."""
    spec = part.get("image_url")
    url = spec if isinstance(spec, str) else (spec or {}).get("url", "")
    detail = "auto" if isinstance(spec, str) else str((spec or {}).get("detail") or "auto")
    if detail == "low":
        return BASE_TOKENS
    data = _data_url_bytes(url) if isinstance(url, str) else None
    size = (image_size(data) if data else None) or UNKNOWN_SIZE
    return tokens_for_size(*size, detail)


def prompt_image_tokens(body: Mapping[str, Any]) -> int:
    """Tokens of every image in a chat request's messages."""
    total = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, Mapping) and part.get("type") == "image_url":
                total += part_tokens(part)
    return total
