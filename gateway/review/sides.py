"""Resolving one side of a diff to a snapshot: a catalog directory, a snapshot file, or a git
revision read through git without touching the working tree."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.catalog.compile import build
from gateway.catalog.snapshot import Snapshot
from gateway.diagnostics import Diagnostic
from gateway.errors import CatalogError


@dataclass(frozen=True, slots=True)
class LoadedSide:
    """A side as named by the user, and its compiled snapshot (JSON form)."""

    label: str
    snapshot: dict[str, Any]


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
        return LoadedSide(spec, _compile(path, spec))
    commit = _commit_of(spec, cwd)
    if commit is None:
        raise SideNotFound(f"{spec!r} is not a catalog directory, a snapshot file or a git "
                           "revision")
    label = f"{spec} ({commit[:8]})" if not commit.startswith(spec) else spec[:12]
    with tempfile.TemporaryDirectory(prefix="modelyard-side-") as tmp:
        root = _extract(commit, catalog_path, cwd, Path(tmp), spec)
        return LoadedSide(label, _compile(root, f"{spec}:{catalog_path}", shown_as=(
            root, f"{spec}:{catalog_path}")))


def read_snapshot(path: Path) -> dict[str, Any]:
    """A compiled snapshot file, checked (version and digest) the way the proxy checks it."""
    try:
        data = json.loads(path.read_bytes())
        Snapshot.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SideNotFound(f"{path}: not a readable snapshot ({exc})") from None
    return data


def _compile(root: Path, label: str, shown_as: tuple[Path, str] | None = None
             ) -> dict[str, Any]:
    result = build(root)
    if result.snapshot is None:
        diagnostics = tuple(_relabel(result.diagnostics, shown_as))
        errors = sum(d.severity == "error" for d in diagnostics)
        raise SideDoesNotCompile(f"{label} does not compile ({errors} error(s))", diagnostics)
    return result.snapshot


def _relabel(diagnostics: Iterable[Diagnostic], shown_as: tuple[Path, str] | None
             ) -> Iterable[Diagnostic]:
    """Point diagnostics of an extracted revision at `REV:path` instead of a temp directory."""
    for d in diagnostics:
        if shown_as is not None:
            tmp, name = str(shown_as[0]), shown_as[1]
            if d.file.startswith(tmp):
                d = dataclasses.replace(d, file=name + d.file[len(tmp):])
        yield d


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:  # no git installed: no side can be a revision
        return subprocess.CompletedProcess(["git", *args], 127, b"", b"git not found")


def _commit_of(rev: str, cwd: Path) -> str | None:
    if rev.startswith("-"):
        return None  # never let a side be read as a git option
    done = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
                cwd)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _extract(commit: str, catalog_path: str, cwd: Path, into: Path, spec: str) -> Path:
    """Unpack `catalog_path` of `commit` into `into` and return the catalog root in it."""
    done = _git(["archive", "--format=tar", commit, "--", catalog_path], cwd)
    if done.returncode != 0:
        raise SideNotFound(f"{spec}: no {catalog_path!r} in that revision "
                           f"({done.stderr.decode().strip()})")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse odd members outright
            archive.extractall(into, filter="data")
        else:
            archive.extractall(into)  # git archive of our own repository: trusted members
    # Run from `cwd`, git archive names members relative to it, as `catalog_path` is.
    return into / catalog_path
