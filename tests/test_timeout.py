"""The hot path's timeout_at behaves like asyncio.timeout_at; an IdleTimeout, kept by the
same timer, expires after its limit of waiting, moved on by touch() and held by pause()."""

from __future__ import annotations

import asyncio

import pytest

from gateway.proxy.timeout import IdleTimeout, timeout_at


def run(coro):
    return asyncio.run(coro)


def test_the_block_is_cut_at_the_deadline_with_a_timeout_error():
    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError), timeout_at(started + 0.05):
            await asyncio.sleep(5)
        return loop.time() - started

    assert 0.04 <= run(main()) < 1


def test_a_block_done_in_time_is_left_alone_and_its_timer_cancelled():
    async def main() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        with timeout_at(loop.time() + 5) as cutoff:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        return ("expired" if cutoff.expired else "in time"), asyncio.current_task().cancelling()

    assert run(main()) == ("in time", 0)


def test_a_deadline_already_past_cuts_at_the_first_wait():
    async def main() -> None:
        with timeout_at(asyncio.get_running_loop().time() - 1):
            await asyncio.sleep(1)

    with pytest.raises(TimeoutError):
        run(main())


def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    async def body(entered: asyncio.Event) -> None:
        with timeout_at(asyncio.get_running_loop().time() + 5):
            entered.set()
            await asyncio.sleep(5)

    async def main() -> None:
        entered = asyncio.Event()
        task = asyncio.create_task(body(entered))
        await entered.wait()
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        run(main())


def test_an_outer_cancellation_after_expiry_is_not_swallowed():
    async def body() -> None:
        task = asyncio.current_task()
        with timeout_at(asyncio.get_running_loop().time() + 0.01):
            task.cancel()  # someone else cancels too, before the deadline fires
            await asyncio.sleep(1)

    async def main() -> None:
        await asyncio.create_task(body())

    with pytest.raises(asyncio.CancelledError):
        run(main())


def test_outside_a_task_it_says_so():
    with pytest.raises(RuntimeError, match="inside a task"):
        timeout_at(0)


def test_deadlines_share_one_timer_yet_each_fires_at_its_own_time():
    async def cut(when: float) -> float:
        loop = asyncio.get_running_loop()
        try:
            with timeout_at(when):
                await asyncio.sleep(5)
        except TimeoutError:
            return loop.time()
        raise AssertionError("not cut")

    async def left_early(when: float) -> None:
        with timeout_at(when) as cutoff:
            await asyncio.sleep(0)
        assert not cutoff.expired

    async def main() -> list[float]:
        now = asyncio.get_running_loop().time()
        # the earliest deadline is left at once; a later one and then an earlier one come
        await left_early(now + 0.02)
        later = asyncio.create_task(cut(now + 0.15))
        await asyncio.sleep(0)
        earlier = asyncio.create_task(cut(now + 0.05))  # earlier than the timer armed
        fired = await asyncio.gather(earlier, later)
        return [t - now for t in fired]

    earlier, later = run(main())
    assert 0.045 <= earlier < 0.12
    assert 0.145 <= later < 0.3


def test_many_open_deadlines_cost_no_timer_each():
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        cutoffs = [timeout_at(loop.time() + 60) for _ in range(1000)]
        timers = len(loop._scheduled)  # type: ignore[attr-defined]
        for cutoff in cutoffs:
            cutoff.__exit__(None, None, None)
        return timers, sum(c.expired for c in cutoffs)

    assert run(main()) == (1, 0)


def test_an_idle_limit_moves_with_each_touch_and_waits_out_a_pause():
    """Touched within its limit it never expires; paused, the shared timer comes and finds
    nothing due (and nothing to arm for); touched again, the limit runs from that moment
    and it expires one limit later, not at some later deadline of the loop's."""

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        expired: list[float] = []
        idle = IdleTimeout(0.1, lambda: expired.append(loop.time()))
        for _ in range(4):  # reads 0.06 s apart: 0.24 s in all, past the 0.1 s limit
            await asyncio.sleep(0.06)
            idle.touch()
        idle.pause()  # the consumer holds a read longer than the limit
        await asyncio.sleep(0.25)
        assert not expired
        touched = loop.time()
        idle.touch()  # the reader waits again, and the upstream stays silent
        await asyncio.sleep(0.3)
        idle.close()
        return expired[0] - touched, len(expired)

    after, times = run(main())
    assert 0.095 <= after < 0.2 and times == 1
