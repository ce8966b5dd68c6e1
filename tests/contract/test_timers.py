"""The timer runner on the real clock: timers that fall due while others are being fired still fire.

Found by the P3 benchmark (escalation lateness over 10,000 open cases): while a slow batch was being
fired, a timer chained in that batch re-armed the scheduler's job for a moment that passed before the
batch ended; APScheduler skipped that run (one instance at a time), and the runner kept believing it
was armed, so every later step waited for the next unrelated wake-up.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bot.bootstrap import open_store
from bot.clock import SystemClock
from bot.ports import Timer
from bot.timers import TimerRunner
from bot.work import Work

MASTER_KEY = bytes(range(32))


class SlowService:
    """Fires timers slowly; the first batch chains a timer that is due almost at once."""

    def __init__(self) -> None:
        self.fired: list[int] = []
        self.chained = False

    async def startup(self, work: Work) -> None:
        return None

    async def tick(self, work: Work, timers: list[Timer]) -> None:
        for timer in timers:
            self.fired.append(timer.id)
            await work.tx.finish_timer(timer.id, work.now)
        if not self.chained:
            self.chained = True
            await work.timer("escalate", work.now + timedelta(milliseconds=50))
        await asyncio.sleep(0.3)


async def test_timers_that_fall_due_during_a_slow_firing_are_not_dropped(tmp_path: Path) -> None:
    clock = SystemClock()
    store = open_store(tmp_path / "haven.db", MASTER_KEY, clock)
    await store.open()
    service = SlowService()
    runner = TimerRunner(store, service, clock, lambda work: runner.wake_at(work.wake) if work.wake else None)  # type: ignore[arg-type]
    now = clock.now()
    async with store.transaction() as tx:
        ids = [await tx.add_timer("escalate", now + timedelta(milliseconds=ms)) for ms in (100, 900, 1000, 1100, 1200)]
    await runner.start()
    try:
        deadline = time.monotonic() + 5
        while len(service.fired) < 6 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
        await store.close()
    assert set(ids) <= set(service.fired)
    assert len(service.fired) == 6, "the chained timer fired too"
    assert len(set(service.fired)) == len(service.fired), "each exactly once"
