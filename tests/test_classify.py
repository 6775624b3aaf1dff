"""Every change is classified: breaking, routing, pricing, security or other."""

from __future__ import annotations

import hashlib

from gateway.review import review_snapshots
from tests.conftest import channel, consumer, model, provider, snapshot_dict
from tests.review_support import review_pair, setter


def messages(review, category):
    return [(f.kind, f.name, f.message) for f in review.of(category)]


# --- breaking -------------------------------------------------------------------------------


def test_alias_retarget_is_breaking(tmp_path):
    review = review_pair(
        tmp_path,
        ("Model", "big", setter(aliases=[])),
        ("Model", "small", setter(aliases=["chat-default", "chat-best"])),
    )
    assert messages(review, "breaking") == [
        ("alias", "chat-best", "alias retargeted: `big` → `small`")
    ]


def test_alias_removed_is_breaking(tmp_path):
    review = review_pair(tmp_path, ("Model", "small", setter(aliases=[])))
    assert messages(review, "breaking") == [
        ("alias", "chat-default", "alias removed (was → `small`)")
    ]


def test_capability_removed_is_breaking_and_added_is_other(tmp_path):
    review = review_pair(
        tmp_path,
        ("Model", "big", setter(capabilities=["streaming", "tools"])),
        ("Model", "legacy", setter(capabilities=["streaming", "tools"])),
    )
    assert messages(review, "breaking") == [("model", "big", "capability removed: `image_input`")]
    assert ("model", "legacy", "capability added: `tools`") in messages(review, "other")


def test_model_inactivated_is_breaking(tmp_path):
    review = review_pair(tmp_path, ("Model", "legacy", setter(status="inactive")))
    assert messages(review, "breaking") == [
        ("model", "legacy", "status active → inactive"),
        ("model", "legacy", "lost by consumer `analyst`: no longer usable by it"),
    ]


def test_visibility_narrowed_is_breaking(tmp_path):
    review = review_pair(
        tmp_path,
        ("Model", "big", setter(visibility="protected", owner={"type": "org", "code": "research"})),
    )
    assert ("model", "big", "visibility narrowed: public → protected") in messages(
        review, "breaking"
    )
    assert ("model", "big", "owner changed: system:platform → org:research") in messages(
        review, "security"
    )


def test_model_type_change_is_breaking():
    p = [provider("p")]
    base = snapshot_dict(providers=p, models=[model("m")], channels=[channel("c", "m", "p")])
    head = snapshot_dict(
        providers=p, models=[model("m", type="embedding")], channels=[channel("c", "m", "p")]
    )
    assert messages(review_snapshots(base, head), "breaking") == [
        ("model", "m", "type chat → embedding")
    ]


def test_native_tool_removed_is_breaking():
    p = [provider("p")]
    channels = [channel("c", "m", "p")]
    base = snapshot_dict(
        providers=p, models=[model("m", native_tools=["web_search"])], channels=channels
    )
    head = snapshot_dict(providers=p, models=[model("m")], channels=channels)
    assert messages(review_snapshots(base, head), "breaking") == [
        ("model", "m", "native tool removed: `web_search`")
    ]


def test_consumer_losing_a_model_is_breaking(tmp_path):
    review = review_pair(tmp_path, ("Consumer", "support-bot", setter(models=["big"])))
    assert messages(review, "breaking") == [
        ("consumer", "support-bot", "loses access to `small`"),
        (
            "model",
            "small",
            "lost by consumer `support-bot` (with alias `chat-default`): no longer usable by it",
        ),
    ]


def test_consumer_removed_is_breaking(tmp_path):
    review = review_pair(tmp_path, ("Consumer", "analyst", lambda d: "delete"))
    assert messages(review, "breaking") == [
        ("consumer", "analyst", "consumer removed: its keys stop working")
    ]


def test_internal_task_moved_to_another_model_is_breaking(tmp_path):
    review = review_pair(
        tmp_path, ("Settings", "settings", setter(internal_tasks={"title_generation": "big"}))
    )
    assert messages(review, "breaking") == [
        ("settings", "settings", "internal task `title_generation` (was `small`) moved to `big`")
    ]


def test_removed_model_lists_what_named_it(tmp_path):
    review = review_pair(
        tmp_path,
        ("Model", "small", lambda d: "delete"),
        ("Channel", "small@azure", lambda d: "delete"),
        ("Settings", "settings", setter(internal_tasks={"title_generation": "big"})),
        ("Consumer", "support-bot", setter(models=["big"])),
    )
    (removed,) = [f for f in review.of("breaking") if f.message.startswith("model removed")]
    assert removed.message == (
        "model removed; was named by alias `chat-default`, consumer "
        "`support-bot`, internal_task `title_generation`"
    )


def test_removed_model_still_named_by_an_allow_list_and_a_task_says_so():
    p = [provider("p")]
    channels = [channel("a", "m", "p"), channel("b", "n", "p")]
    settings = {"internal_tasks": {"summary": "n"}}
    base = snapshot_dict(
        providers=p,
        models=[model("m"), model("n")],
        channels=channels,
        consumers=[consumer("app", "k", models=["m", "n"])],
        settings=settings,
    )
    head = snapshot_dict(
        providers=p,
        models=[model("m")],
        channels=channels[:1],
        consumers=[consumer("app", "k", models=["m", "n"])],
        settings=settings,
    )
    (finding,) = [
        f
        for f in review_snapshots(base, head).of("breaking")
        if f.message.startswith("model removed")
    ]
    assert finding.message == (
        "model removed; still named by consumer `app`, internal_task `summary`"
    )
    assert [r["kind"] for r in finding.detail["still_named_by"]] == ["consumer", "internal_task"]


def test_model_left_without_any_channel_is_breaking():
    p = [provider("p")]
    base = snapshot_dict(providers=p, models=[model("m")], channels=[channel("c", "m", "p")])
    head = snapshot_dict(
        providers=p, models=[model("m")], channels=[channel("c", "m", "p", status="inactive")]
    )
    assert ("model", "m", "no channel left to serve it: every request will fail") in messages(
        review_snapshots(base, head), "breaking"
    )


# --- routing --------------------------------------------------------------------------------


def test_weight_change_shows_exact_before_and_after_shares(tmp_path):
    review = review_pair(tmp_path, ("Channel", "big@openai", setter(weight=1)))
    (finding,) = review.of("routing")
    assert finding.name == "big"
    assert finding.detail["before"]["shares"] == {"big@openai": 75.0, "big@azure": 25.0}
    assert finding.detail["after"]["shares"] == {"big@openai": 50.0, "big@azure": 50.0}
    assert finding.message == "big@openai 75%, big@azure 25% ⇒ big@azure 50%, big@openai 50%"


def test_priority_change_shows_the_new_failover_order(tmp_path):
    review = review_pair(tmp_path, ("Channel", "big@openai", setter(priority="low")))
    (finding,) = review.of("routing")
    assert finding.detail["before"]["failover"] == ["big@openai", "big@azure"]
    assert finding.detail["after"]["failover"] == ["big@azure", "big@openai"]
    assert finding.detail["after"]["shares"] == {"big@azure": 100.0, "big@openai": 0.0}


def test_inactive_channel_is_shown_as_excluded(tmp_path):
    review = review_pair(tmp_path, ("Channel", "big@azure", setter(status="inactive")))
    (finding,) = review.of("routing")
    assert finding.detail["after"]["excluded"] == {"big@azure": "inactive"}
    assert finding.detail["after"]["shares"] == {"big@openai": 100.0}


def test_price_only_change_does_not_touch_routing(tmp_path):
    review = review_pair(
        tmp_path, ("PriceBook", "openai-list", lambda d: d["prices"]["gpt-4o"].update(input="3.00"))
    )
    assert review.of("routing") == []


# --- pricing --------------------------------------------------------------------------------


def test_price_change_shows_old_new_and_percent_per_channel(tmp_path):
    review = review_pair(
        tmp_path,
        (
            "PriceBook",
            "azure-list",
            lambda d: d["prices"]["gpt-4o-mini"].update(input="0.18", output="0.45"),
        ),
    )
    (finding,) = review.of("pricing")
    assert (finding.name, finding.detail["model"]) == ("small@azure", "small")
    assert finding.detail["amounts"] == [
        {"amount": "input", "before": "0.15", "after": "0.18", "change_percent": "+20"},
        {"amount": "output", "before": "0.60", "after": "0.45", "change_percent": "-25"},
    ]
    assert finding.message == (
        "input 0.15 → 0.18 (+20%); output 0.60 → 0.45 (-25%) USD per 1M tokens"
    )


def test_price_book_entry_shared_by_channels_reports_each_channel(tmp_path):
    review = review_pair(
        tmp_path, ("PriceBook", "openai-list", lambda d: d["prices"]["gpt-4o"].update(input="2.75"))
    )
    assert [(f.name, f.detail["amounts"][0]["change_percent"]) for f in review.of("pricing")] == [
        ("big@openai", "+10")
    ]


# --- security -------------------------------------------------------------------------------


def test_data_destination_loosening_is_security(tmp_path):
    review = review_pair(tmp_path, ("Channel", "small@azure", setter(data_destination="overseas")))
    assert messages(review, "security") == [
        ("channel", "small@azure", "data destination loosened: inner → overseas")
    ]


def test_data_destination_tightening_is_not_security(tmp_path):
    review = review_pair(tmp_path, ("Channel", "big@openai", setter(data_destination="inner")))
    assert review.of("security") == []
    assert ("channel", "big@openai", "data destination tightened: overseas → inner") in messages(
        review, "other"
    )


def test_secret_reference_change_never_shows_the_value(tmp_path):
    review = review_pair(
        tmp_path, ("Provider", "openai", lambda d: d["auth"].update(token="${OPENAI_API_KEY_NEW}"))
    )
    assert messages(review, "security") == [
        ("provider", "openai", "auth.token: secret reference changed"),
        (
            "provider",
            "openai",
            "new secret reference `${OPENAI_API_KEY_NEW}`: must be set before deploy",
        ),
    ]
    (change,) = review.changes
    assert change.masked_fields() == [{"path": "auth.token", "before": "***", "after": "***"}]


def test_consumer_key_added_and_scope_widened_are_security(tmp_path):
    new_key = hashlib.sha256(b"sk-second-key").hexdigest()
    review = review_pair(
        tmp_path,
        (
            "Consumer",
            "analyst",
            lambda d: d.update(
                key_sha256=[*d["key_sha256"], new_key], scopes=["public", "internal"]
            ),
        ),
    )
    found = messages(review, "security")
    assert ("consumer", "analyst", "1 key(s) added") in found
    assert ("consumer", "analyst", "scopes widened: + `internal`") in found
    assert all(new_key not in str(f.detail) for f in review.findings)


def test_consumer_added_is_security(tmp_path):
    review = review_pair(tmp_path, ("Consumer", "analyst", setter(name="analyst-2")))
    assert ("consumer", "analyst-2", "consumer added with 1 key(s), scopes `public`") in messages(
        review, "security"
    )


def test_provider_base_url_change_is_security(tmp_path):
    review = review_pair(
        tmp_path, ("Provider", "openai", setter(base_url="https://openai-proxy.example.com/v1"))
    )
    assert messages(review, "security") == [
        (
            "provider",
            "openai",
            "base URL host changed: "
            "`https://api.openai.com/v1` → "
            "`https://openai-proxy.example.com/v1`",
        )
    ]


# --- other ----------------------------------------------------------------------------------


def test_prompt_change_is_other_with_a_text_diff(tmp_path):
    review = review_pair(
        tmp_path,
        (
            "Settings",
            "settings",
            setter(
                system_prompt="You are the assistant of the Acme platform. Answer in full sentences."
            ),
        ),
    )
    (finding,) = review.of("other")
    assert finding.message == "system_prompt changed"
    assert finding.detail["text_diff"].splitlines()[1:] == [
        "-You are the assistant of the Acme platform. Answer briefly.",
        "+You are the assistant of the Acme platform. Answer in full sentences.",
    ]


def test_description_and_display_order_are_other(tmp_path):
    review = review_pair(tmp_path, ("Model", "big", setter(order=5, description="Hard questions.")))
    assert [f.message for f in review.of("other")] == ["description changed", "order: `10` → `5`"]
    assert {f.category for f in review.findings} == {"other"}


def test_framing_header_in_a_snapshot_is_security():
    """`validate` refuses framing headers (MY420); a snapshot compiled before that rule, or
    edited, still has its framing header reported by the diff."""

    def side(headers):
        return snapshot_dict(
            providers=[provider("p", base_url="https://api.example.com/v1", headers=headers)],
            models=[model("m")],
            channels=[channel("c", "m", "p")],
        )

    review = review_snapshots(side({}), side({"Transfer-Encoding": "chunked"}))
    assert [f.message for f in review.of("security")] == [
        "header `Transfer-Encoding` frames the HTTP message: sent upstream as given, it can "
        "split or redirect requests"
    ]
