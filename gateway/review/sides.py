"""Resolving one side of a diff to a snapshot: a catalog directory, a snapshot file, or a git
revision read through git without touching the working tree."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalog.compile import build
from gateway.catalog.load import load_catalog
from gateway.catalog.snapshot import Snapshot
from gateway.diagnostics import ERROR, Diagnostic
from gateway.errors import CatalogError


@dataclass(frozen=True, slots=True)
class LoadedSide:
    """A side as named by the user, and its compiled snapshot (JSON form).

    `warnings` are the side's validation warnings (a catalog side only); `written` holds what
    the snapshot cannot tell, the fields a catalog left to their defaults: for now the
    providers with no `data_destination` written (`{"defaulted_destination": [names]}`).
    """

    label: str
    snapshot: dict[str, Any]
    warnings: tuple[Diagnostic, ...] = ()
    defaulted: dict[str, list[str]] = dataclasses.field(default_factory=dict)


class SideNotFound(CatalogError):
    """The side names no catalog directory, snapshot file or git revision."""


class SideDoesNotCompile(CatalogError):
    """The side's catalog has errors; `diagnostics` says which."""


def load_side(spec: str, *, catalog_path: str = "catalog", cwd: Path | None = None) -> LoadedSide:
    """The snapshot of `spec`: an existing path (a .json snapshot file, a catalog directory or
    YAML file), else a git revision whose `catalog_path` is read with `git archive`."""
    cwd = Path(cwd or Path.cwd())
    path = cwd / spec
    if path.is_file() and path.suffix == ".json":
        return LoadedSide(spec, read_snapshot(path))
    if path.exists():
        return _compile(path, spec, spec)
    commit = _commit_of(spec, cwd)
    if commit is None:
        raise SideNotFound(
            f"{spec!r} is not a catalog directory, a snapshot file or a git revision"
        )
    label = f"{spec} ({commit[:8]})" if not commit.startswith(spec) else spec[:12]
    shown = f"{spec}:{catalog_path}"
    with tempfile.TemporaryDirectory(prefix="modelyard-side-") as tmp:
        root, refused = _extract(commit, catalog_path, cwd, Path(tmp), shown)
        side = _compile(root, label, shown, shown_as=(root, shown), refused=refused)
    return side


def read_snapshot(path: Path) -> dict[str, Any]:
    """A compiled snapshot file, checked (version and digest) the way the proxy checks it."""
    try:
        data = json.loads(path.read_bytes())
        Snapshot.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SideNotFound(f"{path}: not a readable snapshot ({exc})") from None
    return data


def _compile(
    root: Path,
    label: str,
    shown: str,
    shown_as: tuple[Path, str] | None = None,
    refused: tuple[Diagnostic, ...] = (),
) -> LoadedSide:
    result = build(root)
    diagnostics = (*refused, *_relabel(result.diagnostics, shown_as))
    if result.snapshot is None or refused:
        errors = sum(d.severity == ERROR for d in diagnostics)
        raise SideDoesNotCompile(
            f"{shown} does not compile ({errors} error(s))", tuple(diagnostics)
        )
    warnings = tuple(d for d in diagnostics if d.severity != ERROR)
    return LoadedSide(label, result.snapshot, warnings, _defaulted(root))


def _defaulted(root: Path) -> dict[str, list[str]]:
    """Providers whose `data_destination` was left to the default (the snapshot always has one,
    so only the documents tell). Only files that mention a Provider are read again."""
    files = (
        [root]
        if root.is_file()
        else sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    )
    names = []
    for path in files:
        if b"Provider" not in path.read_bytes():
            continue
        docs, _ = load_catalog(path)
        names += [d.name for d in docs if d.kind == "Provider" and "data_destination" not in d.data]
    return {"defaulted_destination": sorted(names)}


def _relabel(
    diagnostics: Iterable[Diagnostic], shown_as: tuple[Path, str] | None
) -> Iterable[Diagnostic]:
    """Point diagnostics of an extracted revision at `REV:path` instead of a temp directory."""
    for d in diagnostics:
        if shown_as is not None:
            tmp, name = str(shown_as[0]), shown_as[1]
            if d.file.startswith(tmp):
                d = dataclasses.replace(d, file=name + d.file[len(tmp) :])
        yield d


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:  # no git installed: no side can be a revision
        return subprocess.CompletedProcess(["git", *args], 127, b"", b"git not found")


def _commit_of(rev: str, cwd: Path) -> str | None:
    if rev.startswith("-"):
        return None  # never let a side be read as a git option
    done = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], cwd)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _extract(
    commit: str, catalog_path: str, cwd: Path, into: Path, shown: str
) -> tuple[Path, tuple[Diagnostic, ...]]:
    """Unpack `catalog_path` of `commit` into `into`: the catalog root in it, and a MY108
    diagnostic per symlink that leads outside it (never extracted)."""
    done = _git(["archive", "--format=tar", commit, "--", catalog_path], cwd)
    if done.returncode != 0:
        raise SideNotFound(
            f"{shown}: no {catalog_path!r} in that revision ({done.stderr.decode().strip()})"
        )
    # Run from `cwd`, git archive names members relative to it, as `catalog_path` is.
    root = into / catalog_path
    refused: list[Diagnostic] = []
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        for member in archive.getmembers():
            link = into / member.name if member.issym() else into / "-"  # hard: from the top
            if (member.issym() or member.islnk()) and not _inside(root, link, member.linkname):
                refused.append(
                    Diagnostic(
                        f"{shown}{member.name[len(catalog_path.rstrip('/')) :]}",
                        1,
                        1,
                        "MY108",
                        ERROR,
                        "symlink leads outside the catalog root",
                        "copy the file into the catalog, or point the link at a file inside the "
                        "catalog",
                    )
                )
                continue
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse odd members too
                archive.extract(member, into, filter="data")
            else:
                archive.extract(member, into)
    return root, tuple(refused)


def _inside(root: Path, link: Path, target: str) -> bool:
    """Whether a symlink at `link` to `target` stays inside `root` (lexically: nothing is
    resolved on disk, the archive's other links may not exist yet)."""
    if target.startswith("/"):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(link), target))
    return resolved == str(root) or resolved.startswith(str(root) + os.sep)
