"""The catalog review workflow's script (.github/scripts/catalog_review.py), run as the job runs
it, against a fake GitHub API on loopback and a git repository of catalog commits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.review.markdown import MARKER
from tests.review_support import REPO, catalog_repo, git, pull_request, setter
from tests.upstreams.github import FakeGitHub
from tests.upstreams.server import serve_asgi

SCRIPT = REPO / ".github" / "scripts" / "catalog_review.py"
LABEL = "catalog-breaking-approved"


@pytest.fixture
def github():
    fake = FakeGitHub()
    with serve_asgi(fake.app) as url:
        yield fake, url


@pytest.fixture
def repo(tmp_path):
    return catalog_repo(tmp_path / "repo")


def run_review(
    repo: Path,
    github: tuple[FakeGitHub, str],
    *,
    action: str = "opened",
    fork: bool = False,
    author: str = "dev",
    labels: tuple[str, ...] = (),
    limit: int | None = None,
) -> tuple[int, str, str]:
    """Run the script for the pull request `HEAD` against `main`; (exit, summary, stderr)."""
    fake, url = github
    event = {
        "action": action,
        "pull_request": {
            "number": 7,
            "user": {"login": author},
            "labels": [{"name": n} for n in labels],
            "head": {"repo": {"full_name": "someone/fork" if fork else "acme/models"}},
        },
    }
    event_path = repo.parent / "event.json"
    event_path.write_text(json.dumps(event))
    summary = repo.parent / "summary.md"
    summary.write_text("")
    env = {
        **os.environ,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_API_URL": url,
        "GITHUB_TOKEN": fake.token,
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_RUN_ID": "99",
        "BASE_SHA": git(repo, "rev-parse", "main"),
        "HEAD_SHA": git(repo, "rev-parse", "HEAD"),
        "REVIEW_DIR": str(repo.parent / "out"),
        "PYTHONPATH": str(REPO),
    }
    if limit:
        env["COMMENT_LIMIT"] = str(limit)
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, summary.read_text(), done.stderr


def breaking_pr(repo: Path) -> None:
    pull_request(repo, "breaking", ("Channel", "qwen-plus@dashscope", setter(status="inactive")))


def test_head_that_does_not_compile_gets_a_comment_with_its_errors_and_fails(repo, github):
    pull_request(repo, "broken", ("Channel", "qwen-plus@dashscope", setter(model="gone")))
    code, _, _ = run_review(repo, github)
    assert code == 1
    (body,) = github[0].bodies()
    assert "the head does not compile" in body
    assert "MY304" in body and "catalog/models/alibaba.yaml" in body


def test_fork_pull_request_gets_the_step_summary_and_no_comment_call(repo, github):
    breaking_pr(repo)
    code, summary, _ = run_review(repo, github, fork=True)
    assert code == 1
    assert "### Plan: 2 breaking" in summary and "qwen-plus" in summary
    assert not [c for c in github[0].calls if c[0] in ("POST", "PATCH", "DELETE")]


def test_approval_label_added_by_the_author_is_ignored(repo, github):
    breaking_pr(repo)
    github[0].label(LABEL, actor="dev")
    code, _, stderr = run_review(repo, github, action="labeled", labels=(LABEL,))
    assert code == 1
    assert LABEL in stderr


def test_approval_label_added_by_a_reviewer_lifts_the_gate(repo, github):
    breaking_pr(repo)
    github[0].label(LABEL, actor="reviewer")
    code, _, _ = run_review(repo, github, action="labeled", labels=(LABEL,))
    assert code == 0


def test_new_push_drops_the_approval_label(repo, github):
    breaking_pr(repo)
    github[0].label(LABEL, actor="reviewer")
    code, _, _ = run_review(repo, github, action="synchronize", labels=(LABEL,))
    assert code == 1
    assert github[0].labels == []
    assert ("DELETE", f"/repos/acme/models/issues/7/labels/{LABEL}") in github[0].calls


def test_pull_request_that_no_longer_touches_the_catalog_loses_its_stale_comment(repo, github):
    fake, _ = github
    breaking_pr(repo)
    run_review(repo, github)
    assert len(fake.bodies()) == 1
    fake.add_comment("looks good", user={"login": "alice", "type": "User"})
    git(repo, "revert", "--no-edit", "HEAD")
    (repo / "README.md").write_text("docs only\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "docs")
    code, summary, _ = run_review(repo, github, action="synchronize")
    assert code == 0
    assert fake.bodies() == []
    assert [c["body"] for c in fake.comments] == ["looks good"]
    assert "does not change the catalog" in summary


def test_second_run_updates_its_comment_in_place(repo, github):
    breaking_pr(repo)
    run_review(repo, github)
    first = [c["id"] for c in github[0].comments]
    run_review(repo, github, action="reopened")
    assert [c["id"] for c in github[0].comments] == first


def big_catalog(root: Path, models: int) -> Path:
    """The bundled catalog plus `models` generated public models on one OpenAI price book."""
    catalog = root / "catalog-src"
    import shutil

    shutil.copytree(REPO / "catalog", catalog)
    docs, prices = [], {}
    for i in range(models):
        name = f"gen-{i:04d}"
        prices[name] = {
            "type": "chat",
            "unit": "per_million_tokens",
            "input": f"{1 + i % 97}.{i % 10}0",
            "output": f"{4 + i % 89}.00",
        }
        docs.append(
            {
                "kind": "Model",
                "name": name,
                "type": "chat",
                "visibility": "public",
                "description": f"Generated model number {i} for a large review.",
            }
        )
        docs.append(
            {
                "kind": "Channel",
                "name": f"{name}@openai",
                "model": name,
                "provider": "openai",
                "upstream_model": name,
            }
        )
    import yaml

    (catalog / "models" / "generated.yaml").write_text(yaml.safe_dump_all(docs))
    (catalog / "prices" / "generated.yaml").write_text(
        yaml.safe_dump(
            {
                "kind": "PriceBook",
                "name": "generated",
                "provider": "openai",
                "currency": "USD",
                "prices": prices,
            }
        )
    )
    return catalog


def test_large_review_keeps_every_breaking_and_security_line_in_the_comments(tmp_path, github):
    repo = catalog_repo(tmp_path / "repo", big_catalog(tmp_path, 1600))

    def raise_prices(doc):
        for entry in doc["prices"].values():
            for key in ("input", "output"):
                if key in entry:
                    entry[key] = f"{float(entry[key]) * 1.1:.4f}"

    pull_request(
        repo,
        "all-prices",
        ("PriceBook", "generated", raise_prices),
        ("PriceBook", "openai-list", raise_prices),
        ("Provider", "openai", setter(base_url="https://api.openai.attacker.example/v1")),
        ("Channel", "qwen-plus@dashscope", setter(status="inactive")),
    )
    code, _, stderr = run_review(repo, github)
    assert code == 1 and "does not compile" not in stderr, stderr
    full = (tmp_path / "out" / "diff.md").read_text()
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    assert len(full.encode()) > 459_000  # the size that lost its security section when cut
    bodies = github[0].bodies()
    assert len(bodies) > 1 and all(len(b) <= 65536 and b.startswith(MARKER) for b in bodies)
    posted = " ".join(" ".join(bodies).split())
    gated = [f for f in report["findings"] if f["class"] in ("breaking", "security")]
    assert len(gated) >= 3
    for finding in gated:
        line = f"{finding['kind'].replace('_', ' ')} `{finding['name']}`: {finding['message']}"
        assert " ".join(line.split()) in posted
    assert "base URL host changed" in posted
    for body in bodies:
        assert body.count("<details") == body.count("</details>")
