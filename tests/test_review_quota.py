"""`modelyard diff` shows quota changes as a class of their own, each limit old → new."""

from __future__ import annotations

from gateway.review import review_snapshots
from gateway.review.markdown import render_markdown
from tests.test_quota_proxy import quota_catalog

URL = "http://127.0.0.1:9/v1"


def quota_findings(base: dict, head: dict) -> list[tuple[str, str, str]]:
    review = review_snapshots(base, head)
    return [(f.kind, f.name, f.message) for f in review.findings if f.category == "quota"]


def test_a_consumer_limit_raised_is_a_quota_change_with_old_and_new_values():
    base = quota_catalog(URL, alice={"requests_per_minute": 60})
    head = quota_catalog(URL, alice={"requests_per_minute": 120, "budget_per_day": "5"})
    assert sorted(quota_findings(base, head)) == [
        ("consumer", "alice", "quota.budget_per_day: (none) → 5"),
        ("consumer", "alice", "quota.requests_per_minute: 60 → 120"),
    ]
    review = review_snapshots(base, head)
    assert [f.category for f in review.findings] == ["quota", "quota"]
    assert "Quota" in render_markdown(review)


def test_an_org_quota_added_and_changed_is_a_quota_change():
    base = quota_catalog(URL)
    added = quota_catalog(URL, research={"tokens_per_minute": 500})
    [(kind, name, message)] = quota_findings(base, added)
    assert (kind, name) == ("org", "research") and "500" in message
    changed = quota_catalog(URL, research={"tokens_per_minute": 800})
    assert quota_findings(added, changed) == [
        ("org", "research", "quota.tokens_per_minute: 500 → 800")
    ]
