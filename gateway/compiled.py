"""Which build of the request path is running: compiled by mypyc (setup.py) or Python.

`MODELYARD_SOURCES=1` runs the Python sources even where compiled extensions sit beside
them (gateway/__init__.py calls `prefer_sources`): to try an edit without building again,
and for tools that swap the request path's functions, which compiled callers call
directly, past any swap (benchmarks/proxy/features.py).
"""

from __future__ import annotations

import importlib.machinery
import sys
from importlib.machinery import FileFinder
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: How far apart an install writes a module's source and extension, in either order: an
#: edit is later than this after a build.
INSTALL_SPREAD_S = 2.0


def running() -> bool:
    """Whether the request path was imported from its compiled extensions."""
    import gateway.proxy.pipeline as probe

    return not (probe.__file__ or "").endswith(".py")


def build_name() -> str:
    """The build, as reports and logs name it."""
    return "compiled (mypyc)" if running() else "Python"


def stale(package: Path = PACKAGE) -> list[str]:
    """Sources edited after the compiled build, which Python still imports in their place
    (an extension wins over a source beside it) until setup.py builds again.

    The build's time is its newest extension's: a build may leave a module's own extension
    as it was and put the changed code in the library the modules share, beside the
    package (`<hash>__mypyc`)."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    extensions = [e for suffix in suffixes for e in package.rglob(f"*{suffix}")]
    if not extensions:
        return []
    shared = [e for suffix in suffixes for e in package.parent.glob(f"*__mypyc{suffix}")]
    built = max(e.stat().st_mtime for e in [*extensions, *shared])
    found = set()
    for extension in extensions:
        suffix = next(s for s in suffixes if extension.name.endswith(s))
        for kind in (".py", ".c"):  # a compiled module's, or hand-written C's (setup.py)
            source = extension.with_name(extension.name[: -len(suffix)] + kind)
            if source.exists() and source.stat().st_mtime > built + INSTALL_SPREAD_S:
                found.add(str(source.relative_to(package.parent)))
    return sorted(found)


def prefer_sources() -> None:
    """Import modules from their sources from now on, before any compiled extension beside
    them (Python's own order is the other way round). Modules already imported stay."""
    loaders = [
        (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
    ]
    hooks = [h for h in sys.path_hooks if getattr(h, "__name__", "") != _FILE_FINDER_HOOK]
    sys.path_hooks[:] = [*hooks, FileFinder.path_hook(*loaders)]  # type: ignore[arg-type]
    sys.path_importer_cache.clear()


_FILE_FINDER_HOOK = "path_hook_for_FileFinder"
