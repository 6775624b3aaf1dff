"""The semantic diff: entities matched by kind and name, field-level before and after."""

from __future__ import annotations

import random
import re
import shutil

from gateway.review import review_snapshots
from gateway.review.diff import diff_snapshots, entities
from tests.review_support import BASE, compiled, copy_base, edit, setter


def test_file_move_and_reorder_is_no_change(tmp_path):
    docs = []
    for path in sorted(BASE.glob("*.yaml")):
        docs += [d for d in re.split(r"^---\s*$", path.read_text(), flags=re.M) if d.strip()]
    random.Random(7).shuffle(docs)
    moved = tmp_path / "moved"
    for i in range(0, len(docs), 3):
        target = moved / f"group{i % 2}" / f"part{i}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n---\n".join(docs[i : i + 3]))
    review = review_snapshots(compiled(BASE), compiled(moved))
    assert review.changes == () and review.findings == ()


def test_same_snapshot_is_no_change():
    snapshot = compiled(BASE)
    assert diff_snapshots(snapshot, snapshot) == []


def test_field_change_is_reported_with_before_and_after(tmp_path):
    head = copy_base(tmp_path / "head")
    edit(head, "Model", "big", setter(order=15))
    changes = diff_snapshots(compiled(BASE), compiled(head))
    assert [(c.kind, c.name, c.action) for c in changes] == [("model", "big", "changed")]
    assert [(f.dotted, f.before, f.after) for f in changes[0].fields] == [("order", 10, 15)]


def test_nested_fields_are_compared_leaf_by_leaf(tmp_path):
    head = copy_base(tmp_path / "head")
    edit(head, "Channel", "small@azure", setter(options={"api_version": "2024-10-21"}))
    (change,) = diff_snapshots(compiled(BASE), compiled(head))
    assert [(f.dotted, f.before, f.after) for f in change.fields] == [
        ("options.api_version", None, "2024-10-21")
    ]


def test_entities_added_and_removed_are_matched_by_kind_and_name(tmp_path):
    head = copy_base(tmp_path / "head")
    edit(head, "Channel", "legacy@openai", setter(name="vintage@openai", model="vintage"))
    edit(head, "Model", "legacy", setter(name="vintage"))
    edit(head, "Channel", "big@azure", setter(name="big@azure-2"))
    actions = {(c.kind, c.name): c.action for c in diff_snapshots(compiled(BASE), compiled(head))}
    assert actions == {
        ("model", "legacy"): "removed",
        ("model", "vintage"): "added",
        ("channel", "legacy@openai"): "removed",
        ("channel", "vintage@openai"): "added",
        ("channel", "big@azure"): "removed",
        ("channel", "big@azure-2"): "added",
    }


def test_aliases_are_entities_of_their_own():
    kinds = entities(compiled(BASE))
    assert kinds["alias"] == {"chat-best": {"model": "big"}, "chat-default": {"model": "small"}}
    assert "aliases" not in kinds["model"]["big"] and "channels" not in kinds["model"]["big"]


def test_base_catalog_copy_is_identical(tmp_path):
    copy = shutil.copytree(BASE, tmp_path / "copy")
    assert diff_snapshots(compiled(BASE), compiled(copy)) == []
