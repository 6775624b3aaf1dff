"""The sliding-window counter's arithmetic: admission, waits and OpenAI-style durations."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gateway.state import Window, duration


def test_previous_window_slides_out_as_the_current_one_advances():
    w = Window(limit=60, window_s=60, prev=60, cur=0, fraction=0.25)
    assert w.used == 45 and w.remaining() == 15
    assert w.admits(15) and not w.admits(16)


@given(limit=st.integers(1, 1000), prev=st.integers(0, 1000), cur=st.integers(0, 1000),
       fraction=st.floats(0, 0.999), cost=st.integers(1, 1000))
def test_waiting_the_announced_time_admits_the_request(limit, prev, cur, fraction, cost):
    w = Window(limit, 60, prev, cur, fraction)
    wait = w.wait_s(cost)
    if cost > limit:
        assert math.isinf(wait)
        return
    if w.admits(cost):
        assert wait == 0
        return
    assert wait > 0
    later = fraction + wait / 60 + 1e-9
    if later < 1:  # still in the current window
        after = Window(limit, 60, prev, cur, later)
    else:  # the current window became the previous one
        after = Window(limit, 60, cur, 0, later - 1)
    assert after.admits(cost)


def test_durations_are_written_as_openai_writes_them():
    assert duration(0.02) == "20ms"
    assert duration(1.5) == "1.5s"
    assert duration(17.6543) == "17.654s"
    assert duration(360) == "6m0s"
    assert duration(0) == "0ms"
