"""One object per event loop: the shared timers of the hot path (disconnect.py, timeout.py)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Self


class PerLoop:
    """A subclass has one instance per event loop, from `of(loop)`. The last one found is
    kept at hand: a process almost always runs one loop, and this is asked per request."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]
    _last: Any = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._by_loop = weakref.WeakKeyDictionary()
        cls._last = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Self:
        last = cls._last
        if last is not None and last.loop is loop:
            return last
        found = cls._by_loop.get(loop)
        if found is None:
            found = cls._by_loop[loop] = cls(loop)
        cls._last = found
        return found
