"""Catalog pull requests that a review must catch, each as a git commit on the bundled catalog,
run through `modelyard diff` the way the CI gate runs it (exit 1 on breaking or security)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.review_support import catalog_repo, found, gate, pull_request, setter


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return catalog_repo(tmp_path_factory.mktemp("scenarios"))


def test_channel_inactivated_leaving_only_the_mock_is_breaking_for_every_consumer(repo):
    pull_request(repo, "qwen-off", ("Channel", "qwen-plus@dashscope", setter(status="inactive")))
    code, report = gate(repo)
    assert code == 1
    breaking = found(report, "breaking")
    assert (
        "model qwen-plus: no real channel left: only mock or zero-priced channels serve it, "
        "every request gets a canned answer at price 0"
    ) in breaking
    (degraded,) = [f for f in report["findings"] if f.get("impact") == "degraded"]
    assert set(degraded["consumers"]) == {
        "demo",
        "ops",
        "alice",
        "cn-support-bot",
        "research-pipeline",
    }


def test_destination_loosened_leaves_cn_support_bot_with_only_the_mock(repo):
    pull_request(
        repo,
        "azure-overseas",
        ("Channel", "gpt-4o-mini@azure-openai", setter(data_destination="overseas")),
    )
    code, report = gate(repo)
    assert code == 1
    assert "channel gpt-4o-mini@azure-openai: data destination loosened: inner → overseas" in found(
        report, "security"
    )
    assert (
        "model gpt-4o-mini: degraded for consumer `cn-support-bot`: only mock or "
        "zero-priced channels left: canned answers at price 0"
    ) in found(report, "breaking")
    (bot,) = [i for i in report["impact"] if i["consumer"] == "cn-support-bot"]
    (mini,) = bot["models"]
    assert [r["channel"] for r in mini["after"]] == ["gpt-4o-mini@mock"]


def test_model_made_private_names_who_loses_it_and_the_alias(repo):
    pull_request(
        repo,
        "o3-private",
        (
            "Model",
            "o3-mini",
            setter(visibility="private", owner={"type": "org", "code": "research"}),
        ),
    )
    code, report = gate(repo)
    assert code == 1
    assert (
        "model o3-mini: lost by consumers `demo`, `ops` (with alias `reasoning-default`): "
        "no longer usable by it"
    ) in found(report, "breaking")


def test_rename_keeping_the_old_name_as_alias_is_a_rename_with_its_real_changes_only(repo):
    def rename(doc):
        doc.update(name="gpt-4o-2024", aliases=["gpt-4o"], order=11)

    moved = [
        ("Channel", c, setter(model="gpt-4o-2024"))
        for c in ("gpt-4o@openai", "gpt-4o@azure-openai", "gpt-4o@mock")
    ]
    pull_request(repo, "rename", ("Model", "gpt-4o", rename), *moved)
    code, report = gate(repo)
    assert code == 0
    assert report["summary"] == {
        "breaking": 0,
        "security": 0,
        "routing": 0,
        "pricing": 0,
        "quota": 0,
        "other": 2,
    }
    assert found(report, "other") == [
        "model gpt-4o-2024: model renamed: `gpt-4o` → `gpt-4o-2024`; the old name stays as an "
        "alias",
        "model gpt-4o-2024: order: `10` → `11`",
    ]


def test_upstream_model_swap_is_breaking_with_its_price_change(repo):
    pull_request(repo, "swap", ("Channel", "gpt-4o@openai", setter(upstream_model="gpt-4o-mini")))
    code, report = gate(repo)
    assert code == 1
    assert (
        "channel gpt-4o@openai: upstream model swapped: `gpt-4o` → `gpt-4o-mini` (model "
        "`gpt-4o`): its users get another model's answers"
    ) in found(report, "breaking")
    (price,) = [f for f in report["findings"] if f["class"] == "pricing"]
    assert {a["change_percent"] for a in price["amounts"]} == {"-94"}


def test_new_provider_without_destination_is_security_and_names_its_secret(repo):
    pull_request(
        repo,
        "openai-cn",
        adds=(
            (
                "providers/openai-cn.yaml",
                {
                    "kind": "Provider",
                    "name": "openai-cn",
                    "protocol": "openai",
                    "base_url": "https://api.openai-cn.example.com/v1",
                    "auth": {"type": "bearer", "token": "${OPENAI_CN_API_KEY}"},
                },
            ),
            (
                "models/alibaba.yaml",
                {
                    "kind": "Channel",
                    "name": "qwen-plus@openai-cn",
                    "model": "qwen-plus",
                    "provider": "openai-cn",
                    "upstream_model": "qwen-plus",
                    "priority": "high",
                    "price": {"unit": "per_million_tokens", "input": "0.4", "output": "1.2"},
                },
            ),
        ),
    )
    code, report = gate(repo)
    assert code == 1
    security = found(report, "security")
    assert (
        "provider openai-cn: provider added: openai at `https://api.openai-cn.example.com/v1`"
        ", data destination overseas (defaulted, not written: set `data_destination`)" in security
    )
    assert (
        "provider openai-cn: new secret reference `${OPENAI_CN_API_KEY}`: must be set before deploy"
    ) in security
    (route,) = [f for f in report["findings"] if f["class"] == "routing"]
    assert route["after"]["shares"] == {
        "qwen-plus@dashscope": 50.0,
        "qwen-plus@openai-cn": 50.0,
        "qwen-plus@mock": 0.0,
    }


def test_base_url_moved_to_another_host_is_security_among_bulk_price_changes(repo):
    def raise_all(doc):
        for entry in doc["prices"].values():
            for key in ("input", "output", "cached_input"):
                if key in entry:
                    entry[key] = str(round(float(entry[key]) * 1.1, 6))

    pull_request(
        repo,
        "prices-and-host",
        ("PriceBook", "openai-list", raise_all),
        ("Provider", "openai", setter(base_url="https://api.openai.example.net/v1")),
    )
    code, report = gate(repo)
    assert code == 1
    assert (
        "provider openai: base URL host changed: `https://api.openai.com/v1` → "
        "`https://api.openai.example.net/v1`"
    ) in found(report, "security")
    assert report["summary"]["pricing"] > 3


@pytest.mark.parametrize(
    "url, risk",
    [
        ("http://169.254.169.254/latest", "link-local address (cloud metadata service)"),
        ("http://127.0.0.1:8080/v1", "loopback address"),
        ("http://2130706433/v1", "host `2130706433` is an IP address written as a number"),
        ("http://api.openai.com/v1", "plain http to a public host"),
    ],
)
def test_risky_upstream_url_is_security(repo, url, risk):
    pull_request(repo, "risky", ("Provider", "openai", setter(base_url=url)))
    code, report = gate(repo)
    assert code == 1
    assert any(risk in line for line in found(report, "security")), found(report, "security")


def test_removing_env_prefixes_is_security(repo):
    pull_request(repo, "no-prefixes", ("Settings", "settings", lambda d: d.pop("env_prefixes")))
    code, report = gate(repo)
    assert code == 1
    assert found(report, "security") == [
        "settings settings: env prefixes removed: ${ENV} references may now name any variable "
        "of the proxy"
    ]


def test_adding_a_public_model_is_security_and_names_who_gains_it(repo):
    pull_request(
        repo,
        "new-model",
        adds=(
            (
                "models/platform.yaml",
                {"kind": "Model", "name": "echo", "type": "chat", "visibility": "public"},
            ),
            (
                "models/platform.yaml",
                {
                    "kind": "Channel",
                    "name": "echo@mock",
                    "model": "echo",
                    "provider": "mock",
                    "upstream_model": "mock-chat",
                },
            ),
        ),
    )
    code, report = gate(repo)
    assert code == 1
    security = found(report, "security")
    assert "model echo: model added (chat, public)" in security
    assert any(
        line == "model echo: now usable by consumers `alice`, `demo`, `ops`, `research-pipeline`"
        for line in security
    )


def test_widening_visibility_is_security(repo):
    pull_request(repo, "widen", ("Model", "alice-finetune", setter(visibility="public")))
    code, report = gate(repo)
    assert code == 1
    assert "model alice-finetune: visibility widened: private → public" in found(report, "security")


def test_channel_losing_its_price_is_a_pricing_finding_and_its_warning_is_shown(repo):
    pull_request(
        repo, "unpriced", ("PriceBook", "openai-list", lambda d: d["prices"].pop("gpt-4o-mini"))
    )
    code, report = gate(repo)
    assert code == 0
    assert "channel gpt-4o-mini@openai: price removed" in found(report, "pricing")
    assert any("MY412" in w and "gpt-4o-mini@openai" in w for w in report["warnings"])
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "diff", "main", "HEAD", "--format", "markdown"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Validation warnings (" in done.stdout and "MY412" in done.stdout


def test_rename_without_the_old_name_kept_pairs_channels_and_is_breaking(repo):
    moved = [
        ("Channel", c, setter(model="o3-mini-v2"))
        for c in ("o3-mini@openai", "o3-mini@azure-openai", "o3-mini@mock")
    ]
    pull_request(repo, "rename-hard", ("Model", "o3-mini", setter(name="o3-mini-v2")), *moved)
    code, report = gate(repo)
    assert code == 1
    assert found(report, "breaking")[0] == (
        "model o3-mini-v2: model renamed: `o3-mini` → `o3-mini-v2`; requests for `o3-mini` "
        "now fail (keep it as an alias to avoid that)"
    )
    assert report["summary"]["pricing"] == 0
    assert not any("model removed" in line for line in found(report, "breaking"))
