"""Giving the system back the memory a burst of requests freed, once the proxy is idle.

A stream's buffers (the upstream client's read buffer, the events of one read, the server's
write buffer) are freed when it ends, but glibc's allocator keeps most of that memory: it
returns only the free space at the top of its main heap, and what a burst of streams frees
lies between blocks that live on, so RSS stays at the burst's peak (measured: ten clients
that stop reading a 50 MB stream left 10 to 20 MB after they closed, all of it free in the
heap, none of it held by Python objects; tests/test_backpressure.py). The memory is reused
by the next burst, so this is no leak, but a process that served one burst keeps its peak
for good. glibc's `malloc_trim(0)` hands every free page inside the heap back to the
system (madvise); here it runs once no request is in flight and RSS has grown 4 MB since the
last trim, looked at once a second: never while requests run (the memory freed then is
reused by the traffic at hand), at most once a second, about 1 ms on an 85 MB process.

Not glibc (musl, macOS): nothing to do, the trimmer never trims. Threads need no arena
limit (`MALLOC_ARENA_MAX`): the proxy's few threads (the loop's resolver, a worker) hold
about 130 KB each, the main heap holds the rest, and `malloc_trim` trims every arena.

Since the trimmer gives the memory back once the proxy is idle, glibc need not give it
back while requests run (`hold_freed_heap`): by default it trims its heap's top whenever a
free leaves more than 128 KB there, and the next allocation takes the pages back from the
system, each zeroed and mapped at a page fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("modelyard.proxy")

#: How often the trimmer looks, and so the most often it trims.
INTERVAL_S = 1.0
#: RSS grown since the last trim below which a trim is not worth its page faults.
MIN_GAIN_BYTES = 4 * 1024 * 1024

Trim = Callable[[int], int]


def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):  # no confstr, or not glibc
        return None
    return ctypes.CDLL(None)


def glibc_trim() -> Trim | None:
    """glibc's `malloc_trim`, or None under any other C library."""
    libc = _glibc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """This process's resident memory, or None where /proc does not tell."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class HeapTrimmer:
    """Counts the requests in flight (`in_flight`, kept by the app) and trims the C heap
    when none is and RSS has grown by MIN_GAIN_BYTES since the last trim."""

    __slots__ = ("in_flight", "trims", "_trim", "_rss", "_floor", "_stop", "_task")

    def __init__(self, trim: Trim | None, rss: Callable[[], int | None] = rss_bytes) -> None:
        """`trim`: glibc_trim() in the proxy; None does nothing."""
        self.in_flight = 0
        self.trims = 0
        self._trim = trim
        self._rss = rss
        self._floor = 0  # RSS after the last trim
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def tick(self) -> bool:
        """One look: trims, and says so, if the proxy is idle and has grown enough."""
        if self.in_flight or self._trim is None:
            return False
        before = self._rss()
        if before is None or before < self._floor + MIN_GAIN_BYTES:
            return False  # not grown enough, or no /proc to tell: nothing worth a trim
        started = time.perf_counter()
        self._trim(0)
        took = time.perf_counter() - started
        self._floor = self._rss() or before
        self.trims += 1
        log.debug(
            "heap trimmed: RSS %.1f -> %.1f MB in %.1f ms",
            before / 2**20,
            self._floor / 2**20,
            took * 1000,
        )
        return True

    def start(self) -> None:
        """Look once a second from now on (nothing to look at without glibc)."""
        if self._trim is not None and self._task is None:
            self._stop.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), INTERVAL_S)
            self.tick()


#: Containers allocated between two collections of the young generation (Python's default
#: is 700). A request's objects are freed by reference counting and leave no cycles
#: (tests/test_gc_cycles.py), so a young collection finds nothing to free: it only walks
#: the objects of the requests in flight, which at 700 meant a 64 KB agent request's
#: parsed tree once or twice per request (docs/performance.md).
YOUNG_THRESHOLD = 10_000


def settle_heap(_loaded: object = None) -> None:
    """Put every object alive now (modules, the snapshot just installed) out of the cyclic
    garbage collector's sight, after collecting what a reload left.

    A request allocates thousands of containers (a 64 KB agent request parses into about
    1,500), so collections run during requests, and each full one walked the whole
    process: every module, the app, the snapshot. Frozen (`gc.freeze`), those are skipped;
    measured on the proxy benchmark's 64 KB agent requests at concurrency 16, server CPU
    per request 587 → 385 µs and p99 53 → 9 ms (docs/performance.md). Objects are still
    freed by reference counting; only a cycle that became garbage after a freeze waits for
    the next one, at the next install, where everything is unfrozen and collected first.
    The young generation is collected every YOUNG_THRESHOLD containers from then on.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


#: What glibc keeps of the heap's free top before giving it back at a free, and the size
#: from which a block gets its own mapping instead of heap space, while the proxy serves.
#: glibc's defaults are 128 KB each, the second rising to a freed mapping's size: a
#: 200-event stream's 54 KB reads, held a little longer by the proxy than by a bare
#: pass-through, had the heap trimmed and grown back at about seven page faults per
#: stream (docs/performance.md, "Freed memory kept while requests run").
HELD_MALLOC = {"MALLOC_TRIM_THRESHOLD_": 64 * 2**20, "MALLOC_MMAP_THRESHOLD_": 32 * 2**20}

#: mallopt's names for the two (malloc.h).
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}


def hold_freed_heap() -> bool:
    """Keep freed memory in the heap while requests run (HELD_MALLOC), for the idle
    trimmer to give back; whether it was set. Left to the environment when it sets either
    itself (the variables HELD_MALLOC names, or `GLIBC_TUNABLES`), and to other C libraries."""
    if "GLIBC_TUNABLES" in os.environ or any(name in os.environ for name in HELD_MALLOC):
        return False
    libc = _glibc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(_MALLOPT[name], value) == 1 for name, value in HELD_MALLOC.items())
