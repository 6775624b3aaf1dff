"""Image edits end to end: the official SDK against the proxy on loopback, in front of the mock
protocol and of a fake OpenAI upstream; the uploaded files reach the upstream intact."""

from __future__ import annotations

import random

import httpx

from tests.conftest import KEY_ALICE, client
from tests.media_support import last, media

__all__ = ["media"]  # the fixture, imported for pytest

RNG = random.Random(7)
# Binary content with line breaks and boundary-like runs: what a naive reader would corrupt.
PICTURE = bytes(RNG.randrange(256) for _ in range(30_000)) + b"\r\n--\r\n\r\n"


def test_image_edit_reaches_upstream_as_multipart_with_the_file_intact(media):
    url, fake = media
    mask = bytes(range(256)) * 4
    result = client(url).images.edit(
        model="editor",
        prompt="add a hat",
        n=3,
        size="1024x1024",
        image=("cat.png", PICTURE, "image/png"),
        mask=("mask.png", mask, "image/png"),
    )
    sent = last(fake, "/v1/images/edits")
    assert sent["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["body"] == {
        "model": "up-edit",
        "prompt": "add a hat",
        "n": "3",
        "size": "1024x1024",
    }
    assert sent["files"] == {
        "image": [("cat.png", "image/png", PICTURE)],
        "mask": [("mask.png", "image/png", mask)],
    }
    assert len(result.data) == 3


def test_image_edit_with_several_images_keeps_their_order(media):
    url, fake = media
    first, second = PICTURE[:1000], PICTURE[1000:3000]
    client(url).images.edit(
        model="editor",
        prompt="combine",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
    )
    assert last(fake, "/v1/images/edits")["files"]["image[]"] == [
        ("a.png", "image/png", first),
        ("b.png", "image/png", second),
    ]


def test_image_edit_through_mock_depends_on_the_uploaded_image(media):
    url, _ = media

    def edit(image: bytes) -> str:
        return (
            client(url)
            .images.edit(model="mock-editor", prompt="p", image=("i.png", image, "image/png"))
            .data[0]
            .b64_json
        )

    assert edit(b"one") == edit(b"one") != edit(b"two")


def test_image_edit_without_an_image_is_refused(media):
    url, _ = media
    response = httpx.post(
        f"{url}/v1/images/edits",
        files={"prompt": (None, "p"), "model": (None, "editor")},
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "image"


def test_image_edit_that_is_not_multipart_is_refused(media):
    url, _ = media
    response = httpx.post(
        f"{url}/v1/images/edits",
        json={"model": "editor", "prompt": "p"},
        headers={"Authorization": f"Bearer {KEY_ALICE}"},
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]
