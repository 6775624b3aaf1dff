"""The one request path: every endpoint accounts its outcome the same way, 499 included."""

from __future__ import annotations

import random

import httpx
import openai
import pytest

from gateway.proxy.app import ProxyApp
from tests.conftest import ENV, KEY_ALICE, client, holder_of, poll
from tests.media_support import media_catalog
from tests.test_accounting import read_log
from tests.upstreams.media import FakeOpenAIMedia
from tests.upstreams.server import serve_asgi

HI = [{"role": "user", "content": "hi"}]

#: (endpoint, path, model, JSON body) for one request on each JSON endpoint.
REQUESTS = [
    ("images.generations", "/v1/images/generations", "painter", {"prompt": "a cat"}),
    ("audio.speech", "/v1/audio/speech", "voice", {"input": "hello", "voice": "alloy"}),
]


@pytest.fixture
def served(tmp_path):
    """The proxy over the media catalog with a usage log: (url, fake upstream, log path)."""
    fake = FakeOpenAIMedia()
    log_path = tmp_path / "usage.jsonl"
    with serve_asgi(fake.app) as fake_url:
        app = ProxyApp(
            holder_of(media_catalog(f"{fake_url}/v1"), ENV),
            rng=random.Random(1),
            usage_log=str(log_path),
        )
        try:
            with serve_asgi(app) as url:
                yield url, fake, log_path
        finally:
            fake.release()


@pytest.mark.parametrize(("endpoint", "path", "name", "body"), REQUESTS)
def test_media_client_leaving_before_the_answer_is_logged_as_499(
    served, endpoint, path, name, body
):
    url, fake, log_path = served
    fake.push({"stall": "headers"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{url}{path}",
            json={"model": name, **body},
            timeout=0.5,
            headers={"Authorization": f"Bearer {KEY_ALICE}"},
        )
    poll(lambda: fake.disconnects == 1)
    [line] = read_log(log_path, 1)
    assert (line["endpoint"], line["status"], line["error_code"]) == (
        endpoint,
        499,
        "client_closed_request",
    )
    assert line["channel"].startswith("fake-")


def test_chat_and_media_failures_are_logged_alike(served):
    url, fake, log_path = served
    fake.push(400)
    with pytest.raises(openai.BadRequestError):
        client(url).images.generate(model="painter", prompt="a cat")
    client(url).chat.completions.create(model="chatty", messages=HI)
    lines = read_log(log_path, 2)
    assert [(x["endpoint"], x["status"]) for x in lines] == [
        ("images.generations", 400),
        ("chat", 200),
    ]
