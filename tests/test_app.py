"""The proxy's endpoints end to end: the official SDK against the proxy on loopback."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.adapter_support import streamed_text
from tests.conftest import KEY_ALICE, KEY_BOB, KEY_SERVICE, client, running_proxy, standard_catalog


def test_chat_answers_through_upstream_with_upstream_model_substituted(proxy):
    url, fake = proxy
    answer = client(url).chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    completion = answer.parse()
    assert completion.choices[0].message.content == "fake answer from up-gpt"
    assert completion.model == "gpt-test"
    assert answer.headers["x-modelyard-channel"] == "fake-gpt"
    assert answer.headers["x-modelyard-attempts"] == "1"
    assert answer.headers["x-request-id"]
    sent = fake.requests[-1]
    assert sent["body"]["model"] == "up-gpt"
    assert sent["headers"]["authorization"] == "Bearer upstream-secret"
    assert sent["headers"]["x-provider"] == "p1" and sent["headers"]["x-channel"] == "c1"


def test_client_key_never_reaches_upstream(proxy):
    url, fake = proxy
    client(url).chat.completions.create(model="gpt", messages=[{"role": "user", "content": "x"}])
    raw = repr(fake.requests[-1])
    assert KEY_ALICE not in raw


def test_system_prompts_come_global_then_model_then_client(proxy):
    url, fake = proxy
    client(url).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "Client rules."}, {"role": "user", "content": "q"}],
    )
    messages = fake.requests[-1]["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief.\n\nAnswer in English."}
    assert messages[1]["content"] == "Client rules."


def test_streamed_chat_arrives_in_chunks_with_usage_when_asked(proxy):
    url, fake = proxy
    stream = client(url).chat.completions.create(
        model="gpt-test",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}],
    )
    chunks = list(stream)
    text = streamed_text(chunks)
    assert text.strip() == "fake answer from up-gpt"
    assert chunks[-1].usage.total_tokens > 0
    assert fake.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_stream_without_usage_request_still_asks_upstream_but_hides_usage(proxy):
    url, fake = proxy
    chunks = list(
        client(url).chat.completions.create(
            model="gpt-test", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert all(c.usage is None for c in chunks)
    assert fake.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_mock_model_streams_its_echo(proxy):
    url, _ = proxy
    chunks = list(
        client(url).chat.completions.create(
            model="limited", stream=True, messages=[{"role": "user", "content": "ping pong"}]
        )
    )
    text = streamed_text(chunks)
    assert text == "Mock answer from mock-limited: ping pong"
    assert len(chunks) > 3


def test_embeddings_are_deterministic_unit_vectors(proxy):
    url, _ = proxy
    first = client(url).embeddings.create(model="embed", input=["a b", "c"])
    again = client(url).embeddings.create(model="embed", input=["a b", "c"])
    assert len(first.data) == 2 and len(first.data[0].embedding) == 16
    assert first.data[0].embedding == again.data[0].embedding
    assert abs(sum(v * v for v in first.data[0].embedding) - 1) < 1e-3


def test_models_list_shows_what_the_consumer_may_see_in_display_order(proxy):
    url, _ = proxy
    alice = [m.id for m in client(url).models.list()]
    bob = [m.id for m in client(url, KEY_BOB).models.list()]
    service = [m.id for m in client(url, KEY_SERVICE).models.list()]
    assert alice == ["gpt-test", "embed", "limited", "alice-private"]
    assert bob == ["gpt-test", "embed", "limited", "research-only"]
    assert "helper" not in service


def test_models_retrieve_by_name_and_hides_invisible_ones(proxy):
    url, _ = proxy
    assert client(url).models.retrieve("gpt-test").owned_by == "platform"
    for hidden in ("research-only", "helper", "retired", "nope"):
        with pytest.raises(openai.NotFoundError):
            client(url).models.retrieve(hidden)


@pytest.mark.parametrize(
    "key,name",
    [
        (KEY_ALICE, "nope"),
        (KEY_BOB, "alice-private"),
        (KEY_ALICE, "helper"),
        (KEY_ALICE, "retired"),
        (KEY_ALICE, "research-only"),
    ],
)
def test_unknown_and_invisible_models_give_the_same_404(proxy, key, name):
    url, _ = proxy
    with pytest.raises(openai.NotFoundError) as info:
        client(url, key).chat.completions.create(
            model=name, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.code == "model_not_found"
    assert info.value.body["message"] == (
        f"The model `{name}` does not exist or you do not have access to it."
    )


def test_internal_model_is_usable_with_internal_scope(proxy):
    url, _ = proxy
    reply = client(url, KEY_SERVICE).chat.completions.create(
        model="helper", messages=[{"role": "user", "content": "title"}]
    )
    assert reply.choices[0].message.content.startswith("Mock answer from mock-helper")


def test_private_and_protected_models_serve_their_owners(proxy):
    url, _ = proxy
    msg = [{"role": "user", "content": "x"}]
    assert client(url).chat.completions.create(model="alice-private", messages=msg).choices
    assert client(url, KEY_BOB).chat.completions.create(model="research-only", messages=msg).choices


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"x-api-key": "wrong"}],
)
def test_requests_without_a_valid_key_get_401(proxy, headers):
    url, _ = proxy
    answer = httpx.post(f"{url}/v1/chat/completions", headers=headers, json={})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{url}/v1/anything-else", headers=headers).status_code == 401


def test_x_api_key_header_authenticates(proxy):
    url, _ = proxy
    answer = httpx.get(f"{url}/v1/models", headers={"x-api-key": KEY_ALICE})
    assert answer.status_code == 200


def test_sdk_raises_authentication_error_for_wrong_key(proxy):
    url, _ = proxy
    with pytest.raises(openai.AuthenticationError):
        client(url, "sk-wrong").models.list()


def test_host_header_does_not_change_auth_decisions(proxy):
    url, _ = proxy
    for host in ("evil.example/healthz?", "localhost/readyz#"):
        answer = httpx.get(f"{url}/v1/models", headers={"Host": host})
        assert answer.status_code == 401


def test_health_and_readiness(proxy):
    url, _ = proxy
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["ready"] and len(ready["digest"]) == 64 and ready["last_reload_error"] is None
    assert "upstream-secret" not in httpx.get(f"{url}/readyz").text


def test_no_auth_serves_anonymous_consumer_with_public_scope(upstream):
    _, url = upstream
    with running_proxy(standard_catalog(url), environ={"MY_FAKE_KEY": "k"}, no_auth=True) as (
        proxy_url,
        _,
    ):
        listed = httpx.get(f"{proxy_url}/v1/models").json()["data"]
        assert [m["id"] for m in listed] == ["gpt-test", "embed", "limited"]
        internal = httpx.post(
            f"{proxy_url}/v1/chat/completions",
            json={"model": "helper", "messages": [{"role": "user", "content": "x"}]},
        )
        assert internal.status_code == 404
