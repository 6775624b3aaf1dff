"""Regenerate diff-comment.md: the markdown diff of a realistic catalog pull request.

Run from the repository root: python3 docs/examples/diff_comment.py
The pull request edits a copy of the bundled catalog; nothing in catalog/ is changed.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from gateway.review import review_snapshots  # noqa: E402
from gateway.review.render import render_markdown  # noqa: E402
from tests.review_support import compiled, edit, setter  # noqa: E402

OUT = Path(__file__).with_name("diff-comment.md")
NEW_OPS_KEY = hashlib.sha256(b"example-rotated-ops-key").hexdigest()

#: The pull request: "Make Claude Haiku the chat default, rebalance GPT-4o, retire GPT-4 Turbo,
#: take the new OpenAI list prices".
EDITS = [
    ("Channel", "gpt-4o@openai", setter(weight=1)),
    ("Model", "gpt-4o-mini", setter(aliases=[])),
    ("Model", "claude-haiku-4-5", lambda d: d.update(aliases=[*d.get("aliases", []),
                                                              "chat-default"])),
    ("Channel", "claude-haiku-4-5@bedrock", setter(priority="high")),
    ("Model", "gpt-4-turbo", lambda d: "delete"),
    ("Channel", "gpt-4-turbo@openai", lambda d: "delete"),
    ("PriceBook", "openai-list", lambda d: (d["prices"]["gpt-4o"].update(input="2.75"),
                                            d["prices"]["gpt-4o-mini"].update(output="0.66"))),
    ("PriceBook", "openai-list", lambda d: d["prices"].pop("gpt-4-turbo")),
    ("Channel", "gpt-4o-mini@azure-openai", setter(data_destination="overseas")),
    ("Consumer", "cn-support-bot", lambda d: d["models"].remove("gpt-4o-mini")),
    ("Consumer", "ops", lambda d: d["key_sha256"].append(NEW_OPS_KEY)),
    ("Model", "gpt-4o", setter(description="OpenAI's flagship multimodal model; reads images, "
                                           "calls tools, searches the web.")),
    ("Settings", "settings", lambda d: d.update(system_prompt=d["system_prompt"].replace(
        "never reveal credentials", "never reveal credentials, personal data"))),
]


def example_markdown() -> str:
    """The markdown comment CI would post for the example pull request."""
    with tempfile.TemporaryDirectory() as tmp:
        head = Path(shutil.copytree(REPO / "catalog", Path(tmp) / "catalog"))
        for kind, name, change in EDITS:
            edit(head, kind, name, change)
        review = review_snapshots(compiled(REPO / "catalog"), compiled(head),
                                  base_label="origin/main", head_label="catalog (working tree)")
    return render_markdown(review)


if __name__ == "__main__":
    OUT.write_text(example_markdown())
    print(f"wrote {OUT.relative_to(REPO)}")
