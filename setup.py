"""Builds modelyard with the proxy's request path compiled to C by mypyc, where it can be.

The modules in `COMPILED` run on every request. Compiled, the proxy spends about 40% less
CPU per plain request in its own code, and 29% less per stream (docs/performance.md, "The
compiled request path"). They stay plain Python modules, typed and checked by mypy like
the rest: the compiled build needs a C compiler and Python's headers, and where either is
missing it falls back to the same modules as Python, with a warning. `MODELYARD_PURE=1`
asks for the Python build on purpose: while editing a compiled module, whose built
extension would otherwise be imported instead of the edited source until it is built
again (`tests/conftest.py` refuses to test a stale one).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

#: The request path, by file: what every chat, embeddings or Messages request runs through.
#: Python still: modules with async generators (mypyc compiles none), the adapters but the
#: OpenAI rename, and classes deriving from an ABC or a Protocol (gateway/proxy/chunk.py's
#: mappings, gateway/proxy/admission.py): mypyc would have them share their base's ABC
#: state, and `isinstance(x, Mapping)` would answer for them (tests/test_compiled.py).
COMPILED = [
    "gateway/proxy/app.py",
    "gateway/proxy/auth.py",
    "gateway/proxy/body.py",
    "gateway/proxy/breaker.py",
    "gateway/proxy/disconnect.py",
    "gateway/proxy/endpoints.py",
    "gateway/proxy/exchange.py",
    "gateway/proxy/meter.py",
    "gateway/proxy/native_tools.py",
    "gateway/proxy/next_now.py",
    "gateway/proxy/per_loop.py",
    "gateway/proxy/pipeline.py",
    "gateway/proxy/plan.py",
    "gateway/proxy/policy.py",
    "gateway/proxy/relay.py",
    "gateway/proxy/resolve.py",
    "gateway/proxy/router.py",
    "gateway/proxy/splice.py",
    "gateway/proxy/sse_reads.py",
    "gateway/proxy/timeout.py",
    "gateway/proxy/validate.py",
    "gateway/proxy/adapters/openai_rename.py",
    "gateway/usage/accounting.py",
    "gateway/usage/log.py",
    "gateway/usage/metrics.py",
    "gateway/usage/pricing.py",
    "gateway/usage/stats.py",
]

#: Hand-written C beside the compiled modules, each with its Python twin in the module
#: that imports it (used when the extension is missing): the one pass that proves a read's
#: plain stream events and renames them (gateway/proxy/adapters/openai_rename.py).
C_EXTENSIONS = {"gateway.proxy.adapters._sse_runs": "gateway/proxy/adapters/_sse_runs.c"}


def _warn(message: str) -> None:
    print(f"modelyard: {message}; the request path stays Python", file=sys.stderr)


def _remove_extensions_but(keep: list[str]) -> None:
    """Extensions in the source tree (editable builds) of modules no longer compiled: left,
    they would be imported in place of their sources."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for extension in Path("gateway").rglob(f"*{suffix}"):
            stem = str(extension)[: -len(suffix)]
            if stem + ".py" not in keep and stem + ".c" not in keep:
                extension.unlink()


def compiled_extensions() -> list[Any]:
    if os.environ.get("MODELYARD_PURE"):
        _remove_extensions_but([])
        return []
    _remove_extensions_but([*COMPILED, *C_EXTENSIONS.values()])
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    try:
        extensions = mypycify(COMPILED, opt_level="3")
    except (Exception, SystemExit) as error:  # a type error mypy reports exits
        _warn(f"mypyc could not compile it ({error})")
        return []
    return extensions + [Extension(name, [source]) for name, source in C_EXTENSIONS.items()]


class AllOrNone(build_ext):
    """Builds the compiled modules together or not at all: each needs the library they
    share, so a module built without it would not import. No compiler, no headers, any
    failure: the Python modules serve, with a warning."""

    def run(self) -> None:
        self.failed: list[str] = []
        super().run()
        if self.failed:
            for extension in self.extensions:
                for path in (
                    Path(self.build_lib) / self.get_ext_filename(extension.name),
                    Path(self.get_ext_filename(extension.name)),  # in place (editable)
                ):
                    path.unlink(missing_ok=True)
            _warn(f"building {', '.join(self.failed)} failed")

    def build_extension(self, extension: Any) -> None:
        try:
            super().build_extension(extension)
        except Exception as error:  # CompileError, LinkError, a missing compiler: OSError
            print(f"modelyard: {error}", file=sys.stderr)
            self.failed.append(extension.name)


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": AllOrNone})
