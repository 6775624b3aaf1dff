"""multipart/form-data bodies: read a bounded request body into fields and files, and write one.

The body is already read whole (with the request size limit), so parts are found by
searching for the boundary rather than by a streaming parser; each part's headers are read
with the standard library's email parser. A field name that repeats (`image[]` from a client
sending several images) keeps its order: the first file is keyed by its field name, later
ones as `name#2`, `name#3`…; `field_name` gives the name back for the upstream.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.proxy.adapters.base import UploadFile

Fields = dict[str, Any]  # a value is a str, or a list of str when the name repeats
Files = dict[str, UploadFile]

_headers = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
MAX_PARTS = 64


def boundary_of(content_type: str) -> str | None:
    """The boundary of a `multipart/form-data` content type, or None for any other type."""
    message = _headers.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode("latin-1"))
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_param("boundary")
    return boundary if isinstance(boundary, str) and 0 < len(boundary) <= 200 else None


def field_name(key: str) -> str:
    """The form field name of a `Files` key (`image[]#2` -> `image[]`)."""
    name, sep, index = key.rpartition("#")
    return name if sep and index.isdigit() else key


def parse(body: bytes, content_type: str) -> tuple[Fields, Files]:
    """Fields and files of a multipart/form-data body, or a 400 saying what is wrong."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise InvalidRequest("this endpoint takes multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise InvalidRequest("multipart body has no part")
    fields: Fields = {}
    files: Files = {}
    position = start + len(delimiter)
    for _ in range(MAX_PARTS + 1):
        if body.startswith(b"--", position):
            return fields, files  # the closing delimiter
        end = body.find(b"\r\n" + delimiter, position)
        if end < 0:
            raise InvalidRequest("multipart body ends before its closing boundary")
        _add_part(body[position:end], fields, files)
        position = end + 2 + len(delimiter)
    raise InvalidRequest(f"multipart body has more than {MAX_PARTS} parts")


def _add_part(raw: bytes, fields: Fields, files: Files) -> None:
    if not raw.startswith(b"\r\n"):
        raise InvalidRequest("multipart boundary is not followed by a line break")
    head, sep, content = raw[2:].partition(b"\r\n\r\n")
    if not sep:
        head, content = head.removesuffix(b"\r\n"), b""  # a part with headers only
    headers = _headers.parsebytes(head + b"\r\n\r\n")
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("a multipart part has no field name")
    filename = headers.get_param("filename", header="content-disposition")
    if filename is None:
        try:
            text = content.decode()
        except UnicodeDecodeError:
            raise InvalidRequest(f"form field `{name}` is not UTF-8 text", param=name) from None
        previous = fields.get(name)
        if previous is None:
            fields[name] = text
        else:
            fields[name] = [*previous, text] if isinstance(previous, list) else [previous, text]
        return
    upload = UploadFile(
        os.path.basename(str(filename)) or "file",
        content,
        headers.get_content_type() if headers.get("content-type") else "application/octet-stream",
    )
    key, count = name, 1
    while key in files:
        count += 1
        key = f"{name}#{count}"
    files[key] = upload


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode(fields: Mapping[str, Any], files: Mapping[str, UploadFile]) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data request; list values repeat the field."""
    boundary = "modelyard-" + os.urandom(12).hex()
    out = bytearray()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            out += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"'
                f"\r\n\r\n{item}\r\n"
            ).encode()
    for key, upload in files.items():
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quoted(field_name(key))}"; filename="{_quoted(upload.filename)}"\r\n'
            f"Content-Type: {upload.content_type}\r\n\r\n"
        ).encode()
        out += upload.content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)
