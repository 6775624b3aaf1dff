"""The heap trimmer gives memory back only once no request is in flight and RSS has grown,
and the app counts every request in flight until it ends, also one whose client left."""

from __future__ import annotations

from gateway.proxy.heap import MIN_GAIN_BYTES, HeapTrimmer
from tests.conftest import ENV, client, poll, running_proxy, standard_catalog

MB = 1024 * 1024


class Process:
    """The C library side of the trimmer: an RSS that a trim brings down to `floor`."""

    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.floor = rss
        self.trims: list[int] = []

    def trim(self, pad: int) -> int:
        self.trims.append(pad)
        self.rss = self.floor
        return 1


def test_the_heap_is_trimmed_once_idle_after_rss_grew_and_not_again_until_it_grows():
    process = Process(rss=80 * MB)
    trimmer = HeapTrimmer(trim=process.trim, rss=lambda: process.rss)
    assert trimmer.tick()  # the first look: what starting up freed
    assert process.trims == [0]

    process.rss += MIN_GAIN_BYTES + MB  # a burst of streams
    trimmer.in_flight = 3
    assert not trimmer.tick()  # never while requests run: they reuse what is free
    trimmer.in_flight = 0
    assert trimmer.tick()
    assert process.rss == 80 * MB

    process.rss += MIN_GAIN_BYTES - MB  # a trickle: not worth the page faults
    assert not trimmer.tick()
    assert process.trims == [0, 0]


def test_without_glibc_nothing_is_trimmed():
    trimmer = HeapTrimmer(trim=None, rss=lambda: 10**9)  # glibc_trim() under musl or macOS
    assert not trimmer.tick()
    assert trimmer.trims == 0


def test_a_request_counts_in_flight_until_it_ends_also_when_its_client_leaves(upstream):
    fake, base = upstream
    with running_proxy(standard_catalog(base), environ=ENV) as (url, app):
        openai_client = client(url)
        openai_client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
        poll(lambda: app.heap.in_flight == 0)

        fake.push({"stall": "body"})  # one chunk, then silence
        stream = openai_client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        assert app.heap.in_flight == 1
        stream.close()  # the client leaves mid-stream
        poll(lambda: app.heap.in_flight == 0)


def test_a_settled_app_freezes_the_heap_and_a_reload_still_frees_the_old_snapshot():
    """Settled, the heap is frozen and the young generation collected less often."""
    import asyncio
    import gc
    import sys
    from pathlib import Path

    from gateway.proxy.app import create_app

    catalog = Path(__file__).parents[1] / "catalog"  # the bundled one

    from gateway.proxy.heap import YOUNG_THRESHOLD

    async def run() -> tuple[int, bool, int]:
        app = create_app(catalog=catalog, watch=False, settle=True)
        await app.startup()
        try:
            frozen = gc.get_freeze_count()
            young = gc.get_threshold()[0]
            old = app.holder.current
            await app.holder.reload_async()  # the same catalog again: a new Loaded
            assert app.holder.current is not old
            # held by nothing but this function: freed by reference counting when it returns
            return frozen, sys.getrefcount(old) == 2, young
        finally:
            await app.shutdown()
            gc.unfreeze()
            gc.set_threshold(*before)

    before = gc.get_threshold()
    frozen, old_freed, young = asyncio.run(run())
    assert frozen > 10_000 and old_freed
    assert young == YOUNG_THRESHOLD != before[0]


FREED_AND_TAKEN_AGAIN = """
import resource, sys
from gateway.proxy.heap import hold_freed_heap
held = hold_freed_heap()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
kept = []
for _ in range(5_000):  # reads of a 200-event stream: 54 KB, copied, some held a while
    kept.append(bytes(bytearray(b"x" * 54_000)))
    if len(kept) > 20:
        kept.clear()
print(held, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


def test_freed_memory_is_kept_while_requests_run_unless_the_environment_tunes_glibc():
    """A heap trimmed at every large free takes its pages back at a fault each; held, the
    same allocations fault (almost) never. A `GLIBC_TUNABLES` of the operator's wins."""
    import os
    import subprocess
    import sys

    import pytest

    from gateway.proxy.heap import HELD_MALLOC, _glibc

    if _glibc() is None:
        pytest.skip("the allocator is not glibc's")
    untuned = {
        name: value
        for name, value in os.environ.items()
        if name not in HELD_MALLOC and name != "GLIBC_TUNABLES"
    }

    def faults(**env: str) -> tuple[str, int]:
        out = subprocess.run(
            [sys.executable, "-c", FREED_AND_TAKEN_AGAIN],
            env={**untuned, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return out[0], int(out[1])

    held, held_faults = faults()
    left, trimmed_faults = faults(GLIBC_TUNABLES="")
    assert (held, left) == ("True", "False")
    assert held_faults * 20 < trimmed_faults, (held_faults, trimmed_faults)
