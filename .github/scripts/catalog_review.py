"""The catalog review of one pull request, as the workflow runs it: diff, comment, gate.

Runs from the base branch's checkout with the base branch's modelyard installed, so a pull
request cannot change its own gate. Reads the GitHub Actions environment:

  GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_TOKEN, GITHUB_STEP_SUMMARY,
  GITHUB_SERVER_URL, GITHUB_RUN_ID; BASE_SHA, HEAD_SHA (the commits to compare, passed through
  `env:`), APPROVAL_LABEL, CATALOG_PATH, REVIEW_DIR (where diff.md and diff.json are written
  for the artifact), COMMENT_LIMIT (characters per comment, for tests).

What it does:
- the pull request no longer touches the catalog: removes this review's comments, exit 0;
- the head does not compile: posts its errors as the comment, exit 1;
- otherwise posts the review (split over several comments when long; breaking and security
  never left out), the head's validation warnings included;
- from a fork (read-only token): writes the review to the job's step summary instead;
- exit 1 when breaking or security changes exist, unless the approval label was added by
  someone other than the pull request's author since the last push (a new push removes it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from gateway.diagnostics import render as render_diagnostics
from gateway.review import review_snapshots
from gateway.review.comment import split_comment
from gateway.review.markdown import MARKER
from gateway.review.render import render_json, render_markdown
from gateway.review.sides import SideDoesNotCompile, SideNotFound, load_side

GATED = {"breaking", "security"}
SUMMARY_LIMIT = 1_000_000  # GitHub's step summary takes up to 1 MiB


class GitHub:
    """The few REST calls the review needs, against GITHUB_API_URL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.repo = env["GITHUB_REPOSITORY"]
        self.http = httpx.Client(
            base_url=env.get("GITHUB_API_URL", "https://api.github.com"), timeout=30,
            headers={"Authorization": f"Bearer {env.get('GITHUB_TOKEN', '')}",
                     "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"})

    def _all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            reply = self.http.get(f"/repos/{self.repo}{path}",
                                  params={"per_page": 100, "page": page})
            reply.raise_for_status()
            batch = reply.json()
            items += batch
            if len(batch) < 100:
                return items
            page += 1

    def comments(self, number: int) -> list[dict[str, Any]]:
        return self._all(f"/issues/{number}/comments")

    def events(self, number: int) -> list[dict[str, Any]]:
        return self._all(f"/issues/{number}/events")

    def create(self, number: int, body: str) -> None:
        self.http.post(f"/repos/{self.repo}/issues/{number}/comments",
                       json={"body": body}).raise_for_status()

    def update(self, comment_id: int, body: str) -> None:
        self.http.patch(f"/repos/{self.repo}/issues/comments/{comment_id}",
                        json={"body": body}).raise_for_status()

    def delete(self, comment_id: int) -> None:
        self.http.delete(f"/repos/{self.repo}/issues/comments/{comment_id}").raise_for_status()

    def remove_label(self, number: int, label: str) -> None:
        reply = self.http.delete(f"/repos/{self.repo}/issues/{number}/labels/{label}")
        if reply.status_code != 404:  # already gone is fine
            reply.raise_for_status()


def ours(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This review's comments: posted by a bot, carrying the marker; in posting order."""
    return [c for c in comments
            if (c.get("user") or {}).get("type") == "Bot" and MARKER in (c.get("body") or "")]


def post(github: GitHub, number: int, bodies: list[str]) -> None:
    """Update this review's comments in place, add what is missing, delete what is left."""
    existing = ours(github.comments(number))
    for index, body in enumerate(bodies):
        if index < len(existing):
            github.update(existing[index]["id"], body)
        else:
            github.create(number, body)
    for stale in existing[len(bodies):]:
        github.delete(stale["id"])


def approved(github: GitHub, event: dict[str, Any], label: str) -> bool:
    """Whether the approval label counts: on the pull request now, last added by someone other
    than its author, and not carried over a new push."""
    pr = event["pull_request"]
    if event.get("action") == "synchronize":
        return False  # a new push: the label is dropped (below) and must be given again
    if label not in {lab["name"] for lab in pr.get("labels", ())}:
        return False
    added = [e for e in github.events(pr["number"])
             if e.get("event") == "labeled" and (e.get("label") or {}).get("name") == label]
    if not added:
        return False
    return (added[-1].get("actor") or {}).get("login") != pr["user"]["login"]


def merge_base(base: str, head: str) -> str:
    done = subprocess.run(["git", "merge-base", base, head], capture_output=True, check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else base


def touches_catalog(base: str, head: str, catalog: str) -> bool:
    done = subprocess.run(["git", "diff", "--quiet", base, head, "--", catalog],
                          capture_output=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"git diff failed: {done.stderr.decode().strip()}")
    return done.returncode == 1


def compile_failure(exc: SideDoesNotCompile, head: str) -> str:
    errors = render_diagnostics(exc.diagnostics, "text")
    return "\n".join([MARKER, "### Plan: the head does not compile", "",
                      f"`{head[:12]}`: {exc}. Fix these and push again:", "", "```text",
                      errors.replace("```", "ʼʼʼ"), "```", ""])


def write_summary(env: dict[str, str], text: str) -> None:
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text[:SUMMARY_LIMIT] + "\n")


def review_markdown(env: dict[str, str], base: str, head: str, catalog: str
                    ) -> tuple[str, set[str]]:
    """The review's markdown and its gated classes with findings; writes the artifact files."""
    old = load_side(base, catalog_path=catalog)
    new = load_side(head, catalog_path=catalog)
    review = review_snapshots(old.snapshot, new.snapshot, base_label=f"base {base[:8]}",
                              head_label=f"head {head[:8]}", warnings=new.warnings,
                              defaulted=new.defaulted)
    markdown = render_markdown(review)
    out = Path(env.get("REVIEW_DIR", "."))
    out.mkdir(parents=True, exist_ok=True)
    (out / "diff.md").write_text(markdown, encoding="utf-8")
    (out / "diff.json").write_text(render_json(review), encoding="utf-8")
    return markdown, set(review.failing(GATED))


def main(env: dict[str, str]) -> int:
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    pr = event["pull_request"]
    number = pr["number"]
    head = env["HEAD_SHA"]
    base = merge_base(env["BASE_SHA"], head)  # what the pull request itself changes
    catalog = env.get("CATALOG_PATH", "catalog")
    label = env.get("APPROVAL_LABEL", "catalog-breaking-approved")
    head_repo = (pr.get("head") or {}).get("repo") or {}
    fork = head_repo.get("full_name") != env["GITHUB_REPOSITORY"]
    github = GitHub(env)
    if event.get("action") == "synchronize" and not fork:
        github.remove_label(number, label)
    if not touches_catalog(base, head, catalog):
        if not fork:
            post(github, number, [])
        write_summary(env, "The pull request does not change the catalog: nothing to review.")
        return 0
    try:
        markdown, failing = review_markdown(env, base, head, catalog)
    except SideDoesNotCompile as exc:
        markdown, failing = compile_failure(exc, head), {"compile"}
    except SideNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_url = (f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/"
               f"{env['GITHUB_REPOSITORY']}/actions/runs/{env.get('GITHUB_RUN_ID', '')}")
    limit = int(env.get("COMMENT_LIMIT") or 65_000)
    parts = [p.body for p in split_comment(markdown, limit=limit, rest_url=run_url)]
    write_summary(env, markdown)
    if not fork:
        post(github, number, parts)
    if "compile" in failing:
        print("the head does not compile", file=sys.stderr)
        return 1
    if failing and not approved(github, event, label):
        print(f"{', '.join(sorted(failing))} changes need the `{label}` label, added by a "
              "reviewer other than the author after the last push", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
