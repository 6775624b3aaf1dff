"""Sides of a diff: catalog directories, snapshot files and git revisions (read-only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.catalog.compile import write_snapshot
from gateway.review import review_snapshots
from gateway.review.sides import SideDoesNotCompile, SideNotFound, load_side
from tests.review_support import BASE, compiled, edit, setter


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path):
    """A git repository whose catalog changed in the last commit (big@openai weight 3 -> 1)."""
    root = tmp_path / "repo"
    shutil.copytree(BASE, root / "catalog")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "catalog")
    edit(root / "catalog", "Channel", "big@openai", setter(weight=1))
    git(root, "commit", "-qam", "even split")
    return root


def shares(review, model="big"):
    (finding,) = [f for f in review.of("routing") if f.name == model]
    return finding.detail["before"]["shares"], finding.detail["after"]["shares"]


def test_catalog_directory_side_is_compiled():
    side = load_side(str(BASE))
    assert side.label == str(BASE) and side.snapshot == compiled(BASE)


def test_snapshot_file_side_is_read(tmp_path):
    write_snapshot(compiled(BASE), tmp_path / "snapshot.json")
    side = load_side("snapshot.json", cwd=tmp_path)
    assert side.snapshot == compiled(BASE)


def test_corrupt_snapshot_file_is_not_a_side(tmp_path):
    data = compiled(BASE)
    data["models"] = []  # digest no longer matches
    (tmp_path / "edited.json").write_text(json.dumps(data))
    with pytest.raises(SideNotFound, match="digest"):
        load_side("edited.json", cwd=tmp_path)


def test_git_revisions_are_read_without_touching_the_working_tree(repo):
    before_files = {p: p.read_bytes() for p in (repo / "catalog").rglob("*") if p.is_file()}
    old, new = load_side("HEAD~1", cwd=repo), load_side("HEAD", cwd=repo)
    review = review_snapshots(old.snapshot, new.snapshot)
    assert shares(review) == (
        {"big@openai": 75.0, "big@azure": 25.0},
        {"big@azure": 50.0, "big@openai": 50.0},
    )
    assert old.label.startswith("HEAD~1 (")
    assert git(repo, "status", "--porcelain") == ""
    assert {p: p.read_bytes() for p in (repo / "catalog").rglob("*") if p.is_file()} == before_files


def test_git_revision_against_the_working_tree(repo):
    edit(repo / "catalog", "Channel", "big@azure", setter(weight=3))  # not committed
    review = review_snapshots(
        load_side("HEAD", cwd=repo).snapshot, load_side("catalog", cwd=repo).snapshot
    )
    assert shares(review) == (
        {"big@azure": 50.0, "big@openai": 50.0},
        {"big@azure": 75.0, "big@openai": 25.0},
    )
    assert git(repo, "status", "--porcelain") == " M catalog/channels.yaml\n"


def test_catalog_path_names_the_folder_inside_the_revision(repo):
    git(repo, "mv", "catalog", "models-catalog")
    git(repo, "commit", "-qm", "rename folder")
    side = load_side("HEAD", catalog_path="models-catalog", cwd=repo)
    assert side.snapshot == load_side("HEAD~1", cwd=repo).snapshot


def test_unknown_revision_is_side_not_found(repo):
    with pytest.raises(SideNotFound, match="not a catalog directory"):
        load_side("no-such-branch", cwd=repo)


def test_option_looking_side_is_never_passed_to_git(repo):
    with pytest.raises(SideNotFound):
        load_side("--output=/tmp/x", cwd=repo)


def test_revision_without_the_catalog_folder_is_side_not_found(repo):
    with pytest.raises(SideNotFound, match="no 'elsewhere'"):
        load_side("HEAD", catalog_path="elsewhere", cwd=repo)


def test_revision_that_does_not_compile_reports_diagnostics_at_rev_paths(repo):
    edit(repo / "catalog", "Channel", "small@azure", setter(model="gone"))
    git(repo, "commit", "-qam", "broken")
    with pytest.raises(SideDoesNotCompile) as caught:
        load_side("HEAD", cwd=repo)
    assert any(
        d.code == "MY304" and d.file == "HEAD:catalog/channels.yaml"
        for d in caught.value.diagnostics
    )


def test_revision_with_an_outward_symlink_is_my108_not_a_traceback(repo, tmp_path):
    secret = tmp_path / "outside.yaml"
    secret.write_text("kind: Capability\nname: leaked\napplies_to: [chat]\n")
    (repo / "catalog" / "leak.yaml").symlink_to(secret)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "symlink out")
    with pytest.raises(SideDoesNotCompile) as caught:
        load_side("HEAD", cwd=repo)
    (found,) = [d for d in caught.value.diagnostics if d.code == "MY108"]
    assert found.file == "HEAD:catalog/leak.yaml"


def test_diff_of_a_revision_with_an_outward_symlink_prints_my108_and_exits_2(repo, tmp_path):
    (repo / "catalog" / "up.yaml").symlink_to("../../outside.yaml")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "symlink out")
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "diff", "HEAD~1", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "MY108" in done.stderr and "HEAD:catalog/up.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_symlink_inside_the_catalog_is_followed(repo):
    (repo / "catalog" / "again").mkdir()
    (repo / "catalog" / "again" / "caps.yaml").symlink_to("../vocabulary.yaml")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "symlink in")
    (repo / "catalog" / "vocabulary.yaml").rename(repo / "catalog" / "vocab.txt")
    (repo / "catalog" / "again" / "caps.yaml").unlink()
    (repo / "catalog" / "again" / "caps.yaml").symlink_to("../vocab.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "vocabulary through a link")
    side = load_side("HEAD", cwd=repo)
    assert set(side.snapshot["capabilities"]) == {"streaming", "tools", "image_input"}
