"""Reading and writing multipart/form-data: files byte for byte, fields, repeats, bad bodies."""

from __future__ import annotations

import email.parser
import email.policy

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.proxy import multipart
from gateway.proxy.adapters.base import UploadFile

TRICKY = b"\r\n--\r\n\r\n--boundary\rx\n" + bytes(range(256))


def client_body(fields: dict, files: list) -> tuple[bytes, str]:
    """A body encoded the way the official SDK's transport (httpx) encodes it."""
    request = httpx.Request("POST", "http://x/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def test_files_and_fields_come_back_byte_for_byte():
    body, content_type = client_body(
        {"model": "m", "prompt": "héllo wörld"},
        [("image", ("cat.png", TRICKY, "image/png")), ("mask", ("m.png", b"", "image/png"))],
    )
    fields, files = multipart.parse(body, content_type)
    assert fields == {"model": "m", "prompt": "héllo wörld"}
    assert files == {
        "image": UploadFile("cat.png", TRICKY, "image/png"),
        "mask": UploadFile("m.png", b"", "image/png"),
    }


def test_repeated_fields_keep_their_order():
    body, content_type = client_body(
        {"timestamp_granularities[]": ["word", "segment"]},
        [("image[]", ("a.png", b"A", "image/png")), ("image[]", ("b.png", b"B", "image/png"))],
    )
    fields, files = multipart.parse(body, content_type)
    assert fields == {"timestamp_granularities[]": ["word", "segment"]}
    assert list(files) == ["image[]", "image[]#2"]
    assert [multipart.field_name(k) for k in files] == ["image[]", "image[]"]
    assert files["image[]#2"].content == b"B"


def test_a_path_in_the_filename_is_dropped():
    body, content_type = client_body({}, [("file", ("../../etc/passwd", b"x", "text/plain"))])
    _, files = multipart.parse(body, content_type)
    assert files["file"].filename == "passwd"


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x", ""]
)
def test_a_body_that_is_not_multipart_form_data_is_refused(content_type):
    with pytest.raises(InvalidRequest, match="multipart/form-data"):
        multipart.parse(b"{}", content_type)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no parts at all",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx',
        b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--b--',
        b"--bX\r\n--b--",
    ],
)
def test_broken_bodies_are_refused_with_a_400(body):
    with pytest.raises(InvalidRequest):
        multipart.parse(body, "multipart/form-data; boundary=b")


def test_too_many_parts_are_refused():
    part = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    with pytest.raises(InvalidRequest, match="more than"):
        multipart.parse(
            part * (multipart.MAX_PARTS + 1) + b"--b--\r\n", "multipart/form-data; boundary=b"
        )


def test_written_bodies_read_back_with_the_standard_email_parser():
    content_type, body = multipart.encode(
        {"model": "up", "n": "2", "tags[]": ["a", "b"]},
        {"image": UploadFile('we"ird\r\nname.png', TRICKY, "image/png")},
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = [
        (
            p.get_param("name", header="content-disposition"),
            p.get_filename(),
            p.get_payload(decode=True),
        )
        for p in message.iter_parts()
    ]
    assert parts == [
        ("model", None, b"up"),
        ("n", None, b"2"),
        ("tags[]", None, b"a"),
        ("tags[]", None, b"b"),
        ("image", "we%22ird%0D%0Aname.png", TRICKY),
    ]


names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    fields=st.dictionaries(names, st.text(max_size=30), max_size=4),
    files=st.dictionaries(names, st.binary(max_size=300), max_size=4),
)
def test_what_is_written_reads_back_the_same(fields, files):
    uploads = {k: UploadFile(f"{k}.bin", v, "application/octet-stream") for k, v in files.items()}
    content_type, body = multipart.encode(fields, uploads)
    assert multipart.parse(body, content_type) == (fields, uploads)
