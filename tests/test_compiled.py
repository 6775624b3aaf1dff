"""The compiled request path (setup.py): built where it can be, and never served stale."""

from __future__ import annotations

import importlib
import os
import re
import time
import types
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from gateway import compiled
from gateway.proxy import pipeline, policy, router

REPO = Path(__file__).resolve().parent.parent


def compiled_modules() -> list[str]:
    """The modules setup.py compiles, by import name."""
    setup = (REPO / "setup.py").read_text()
    return [m[:-3].replace("/", ".") for m in re.findall(r'"(gateway/[\w/]+\.py)"', setup)]


def _touch(path: Path, when: float) -> None:
    path.write_text("")
    os.utime(path, (when, when))


def test_a_source_edited_after_the_build_is_stale(tmp_path: Path) -> None:
    package = tmp_path / "gateway"
    (package / "proxy").mkdir(parents=True)
    suffix = EXTENSION_SUFFIXES[0]
    now = time.time()
    _touch(package / "proxy" / "plan.py", now - 60)
    _touch(package / "proxy" / f"plan{suffix}", now - 90)  # left as it was by the build
    _touch(tmp_path / f"0123abcd__mypyc{suffix}", now - 30)  # the build: the shared code
    _touch(package / "proxy" / f"policy{suffix}", now - 30)
    _touch(package / "proxy" / "router.py", now)  # never compiled
    assert compiled.stale(package) == []
    _touch(package / "proxy" / "policy.py", now)  # edited after the build
    assert compiled.stale(package) == ["gateway/proxy/policy.py"]


@pytest.mark.skipif(bool(os.environ.get("MODELYARD_PURE")), reason="the Python build asked for")
def test_the_request_path_under_test_is_the_compiled_one() -> None:
    """What `pip install` builds is what the tests run: the compiled modules, not the
    sources beside them (a build without a C compiler falls back to Python, and says so)."""
    for module in (pipeline, policy, router):
        assert not module.__file__.endswith(".py"), module.__file__
    assert compiled.running() and compiled.build_name() == "compiled (mypyc)"


def test_no_compiled_class_shares_the_abc_state_of_its_base() -> None:
    """mypyc builds a class deriving from an ABC (Mapping, Protocol) without ABC state of
    its own: it would share its base's, and what `isinstance(x, TheClass)` cached would
    answer `isinstance(x, Mapping)` too. Such classes stay in modules left to Python."""
    names = compiled_modules()
    assert "gateway.proxy.pipeline" in names and "gateway.proxy.chunk" not in names
    shared = []
    for name in names:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if not isinstance(value, type) or value.__module__ != name:
                continue
            state = getattr(value, "_abc_impl", None)
            if state is not None and any(
                getattr(base, "_abc_impl", None) is state for base in value.__mro__[1:]
            ):
                shared.append(f"{name}.{attribute}")
    assert shared == []


@pytest.mark.skipif(not compiled.running(), reason="the Python build runs every __init__ in Python")
def test_the_classes_built_per_request_have_compiled_initialisers() -> None:
    """A dataclass in a compiled module keeps the `__init__` that `dataclasses` writes, which
    runs as Python: five times the cost of a compiled one, and a dozen such objects are built
    for every request. These declare their own `__init__` (`@dataclass(init=False)`)."""
    from gateway.proxy.exchange import Exchange
    from gateway.proxy.meter import Meter
    from gateway.proxy.plan import RoutePlan
    from gateway.usage.pricing import Cost, Usage

    per_request = [
        Exchange,
        Meter,
        RoutePlan,
        Cost,
        Usage,
        policy.Decision,
        router.Routed,
        router.Outcome,
        router.Streaming,
        pipeline.Prepared,
        pipeline.StreamShape,
        pipeline._Request,
    ]
    written_by_dataclasses = [
        cls.__name__ for cls in per_request if isinstance(cls.__init__, types.FunctionType)
    ]
    assert written_by_dataclasses == []
