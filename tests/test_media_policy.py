"""Which image models serve generations and edits: the model type, widened by `image_edit`."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from gateway.catalog.compile import build
from gateway.catalog.snapshot import digest_of
from tests.conftest import (
    KEY_ALICE,
    channel,
    client,
    consumer,
    model,
    provider,
    running_proxy,
    snapshot_dict,
)

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
PROPS = {"sizes": ["1024x1024"], "qualities": ["low", "high"], "max_images": 2}
PICTURE = ("cat.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png")


def generate(api: openai.OpenAI, name: str) -> bytes:
    return base64.b64decode(api.images.generate(model=name, prompt="a cat").data[0].b64_json)


def edit(api: openai.OpenAI, name: str) -> bytes:
    answer = api.images.edit(model=name, prompt="add a hat", image=PICTURE, n=2)
    assert len(answer.data) == 2
    return base64.b64decode(answer.data[0].b64_json)


def refusal(request: Callable[[openai.OpenAI, str], bytes], api: openai.OpenAI, name: str) -> dict:
    """The body of the type mismatch a request to model `name` is refused with."""
    with pytest.raises(openai.BadRequestError) as caught:
        request(api, name)
    assert caught.value.body["code"] == "model_type_mismatch"
    return caught.value.body


@pytest.fixture(scope="module")
def api() -> Iterator[openai.OpenAI]:
    """The proxy over three mock image models: one generates, one edits, one does both."""
    data = snapshot_dict(
        providers=[provider("mock", protocol="mock")],
        models=[
            model("painter", type="image-generation", properties=PROPS, capabilities=[]),
            model("editor", type="image-edit", properties=PROPS, capabilities=[]),
            model("both", type="image-generation", properties=PROPS, capabilities=["image_edit"]),
        ],
        channels=[channel(f"mock-{n}", n, "mock") for n in ("painter", "editor", "both")],
        consumers=[consumer("alice", KEY_ALICE)],
    )
    with running_proxy(data) as (url, _app):
        yield client(url)


def test_a_generation_model_with_image_edit_serves_generations_and_edits(api):
    assert generate(api, "both").startswith(b"\x89PNG")
    assert edit(api, "both").startswith(b"\x89PNG")


def test_a_generation_model_without_image_edit_refuses_edits_naming_the_capability(api):
    assert "image_edit" in refusal(edit, api, "painter")["message"]


def test_an_edit_model_still_refuses_generations(api):
    refusal(generate, api, "editor")
    assert edit(api, "editor").startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def bundled() -> Iterator[openai.OpenAI]:
    """The proxy over the bundled catalog, gpt-image-1 narrowed to its mock channel so no
    request leaves loopback."""
    result = build(CATALOG, strict=True)
    assert result.snapshot is not None
    data = dict(result.snapshot)
    data["models"] = [
        {**m, "channels": ["gpt-image-1@mock"]} if m["name"] == "gpt-image-1" else m
        for m in data["models"]
    ]
    data["digest"] = digest_of(data)
    with running_proxy(data, no_auth=True) as (url, _app):
        yield client(url)


def test_bundled_gpt_image_1_generates_and_edits_through_the_mock_provider(bundled):
    assert generate(bundled, "gpt-image-1").startswith(b"\x89PNG")
    assert edit(bundled, "gpt-image-1").startswith(b"\x89PNG")


def test_bundled_dall_e_3_still_refuses_edits(bundled):
    refusal(edit, bundled, "dall-e-3")
