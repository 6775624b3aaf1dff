"""Sliding windows: exactly `limit` in any window, truthful waits, OpenAI-style durations."""

from __future__ import annotations

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.state import WINDOW, Check, EmbeddedState, Settlement, duration
from gateway.state.window import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(0, 20), min_size=1, max_size=200), limit=st.integers(1, 20))
def test_no_window_ever_holds_more_than_the_limit(gaps, limit):
    clock = Clock()
    state = EmbeddedState(clock)
    admitted: list[float] = []

    async def go():
        for i, gap in enumerate(gaps):
            clock.now += gap
            if (
                await state.admit([Check("k", WINDOW, limit, 1, "60", 125)], entry=str(i))
            ).admitted:
                admitted.append(clock.now)

    asyncio.run(go())
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + 60) <= limit


def test_a_full_window_frees_up_as_its_oldest_entries_slide_out():
    clock = Clock()
    state = EmbeddedState(clock)
    check = Check("k", WINDOW, 3, 1, "60", 125)

    async def go():
        for i, gap in enumerate((0, 10, 10)):
            clock.now += gap
            assert (await state.admit([check], entry=str(i))).admitted
        clock.now += 5  # t = 25
        refused = await state.admit([check], entry="x")
        assert not refused.admitted and refused.readings[0].window.wait_s == 35
        clock.now += 35  # the first entry (t = 0) slid out
        assert (await state.admit([check], entry="y")).admitted

    asyncio.run(go())


def test_a_settled_reservation_frees_its_unused_tokens():
    clock = Clock()
    state = EmbeddedState(clock)

    async def go():
        assert (await state.admit([Check("t", WINDOW, 100, 90, "60", 125)], entry="a")).admitted
        await state.settle([Settlement("t", WINDOW, 10 - 90, "a|90", 125)])
        peek = await state.admit([Check("t", WINDOW, 100, 0, "60", 125)], commit=False)
        assert peek.readings[0].window.used == 10

    asyncio.run(go())


def test_waits_follow_the_oldest_entries():
    entries = [(0.0, 5), (10.0, 5), (20.0, 5)]
    assert wait_for(entries, 15, 5, 15, 60, now=30) == 30
    assert wait_for(entries, 15, 10, 15, 60, now=30) == 40
    assert wait_for(entries, 15, 1, 16, 60, now=30) == 0
    assert math.isinf(wait_for(entries, 15, 20, 15, 60, now=30))


def test_durations_are_written_as_openai_writes_them():
    assert duration(0.02) == "20ms"
    assert duration(1.5) == "1.5s"
    assert duration(17.6543) == "17.654s"
    assert duration(360) == "6m0s"
    assert duration(0) == "0ms"
