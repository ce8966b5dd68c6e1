"""Timers: the database holds them; one loop sleeps until the next one is due.

The loop reads the earliest pending timer from the database and sleeps until then, or until a commit
adds an earlier one. Due timers are handled in transactions that mark them fired, so each fires exactly
once even across restarts. One loop means one firing at a time. (An APScheduler date job did this
before: re-armed during a firing, it could fall due while that firing ran, and APScheduler skipped it.)
Periodic jobs (draft reminders, retention, the keyring) run on APScheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.ports import Clock, Timer
from bot.service import Service
from bot.store.sqlite import SqliteStore
from bot.work import Work

log = logging.getLogger(__name__)


class TimerRunner:
    def __init__(
        self,
        store: SqliteStore,
        service: Service,
        clock: Clock,
        on_commit: Callable[[Work], None],
        *,
        sweep_every: timedelta = timedelta(minutes=1),
    ) -> None:
        self.store = store
        self.service = service
        self.clock = clock
        self.on_commit = on_commit
        self.sweep_every = sweep_every
        self.scheduler: AsyncIOScheduler | None = None
        self._armed: datetime | None = None
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.fired = 0
        self.lateness: list[float] = []
        #: Called with every fired timer and how late it fired, in seconds (metrics).
        self.on_fired: Callable[[Timer, float], None] | None = None
        self._jobs: list[tuple[str, timedelta, Callable[[], Awaitable[None]]]] = []

    def every(self, name: str, interval: timedelta, job: Callable[[], Awaitable[None]]) -> None:
        """A periodic job (registered before :meth:`start`)."""
        self._jobs.append((name, interval, job))

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.start()
        self.scheduler.add_job(
            self.sweep,
            "interval",
            seconds=self.sweep_every.total_seconds(),
            id="drafts",
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
        )
        self.scheduler.add_job(
            self.purge,
            "interval",
            hours=24,
            id="retention",
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
            next_run_time=self.clock.now() + timedelta(minutes=5),
        )
        self.scheduler.add_job(
            self._reload_keys,
            "interval",
            seconds=10,
            id="keyring",
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
        )
        for name, interval, job in self._jobs:
            self.scheduler.add_job(
                job,
                "interval",
                seconds=interval.total_seconds(),
                id=name,
                coalesce=True,
                misfire_grace_time=None,
                max_instances=1,
            )
        await self.startup()
        self._loop_task = asyncio.create_task(self._loop(), name="timers")

    async def startup(self) -> None:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            work = Work(tx, now, f"startup:{now.timestamp():.6f}")
            await self.service.startup(work)
        self.on_commit(work)

    async def _reload_keys(self) -> None:
        """Pick up a rotated master keyring (``haven rotate-key``) without a restart."""
        if self.store.vault.reload():
            log.info("master keyring reloaded", extra={"keys": len(self.store.vault.fingerprints)})

    async def purge(self) -> int:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            work = Work(tx, now, f"purge:{now.timestamp():.6f}")
            erased = await self.service.purge(work)
        self.on_commit(work)
        return erased

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def wake_at(self, when: datetime) -> None:
        """A timer due at ``when`` was committed: wake the loop if that is earlier than it sleeps."""
        if self._armed is not None and self._armed <= when:
            return
        self._armed = when
        self._wake.set()

    async def rearm(self) -> None:
        """Look at the database again for the next due timer."""
        self._armed = None
        self._wake.set()

    async def _loop(self) -> None:
        """Fire what is due, then sleep until the next timer in the database is due (or a commit wakes us).

        One loop, so one firing at a time; a timer committed during a firing is seen by the next look.
        """
        while True:
            self._wake.clear()
            try:
                await self.run_due()
                following = await self.store.next_timer_at()
            except Exception:
                log.exception("firing timers failed; retrying in 5 s")
                following = self.clock.now() + timedelta(seconds=5)
            if self._wake.is_set():
                continue  # something was committed meanwhile: look again at once
            self._armed = following
            delay = (following - self.clock.now()).total_seconds() if following is not None else 3600.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 3600.0))

    async def run_due(self) -> int:
        """Fire every timer that is due now; returns how many fired."""
        total = 0
        while True:
            now = self.clock.now()
            async with self.store.transaction() as tx:
                timers = await tx.due_timers(now, limit=200)
                if not timers:
                    break
                work = Work(tx, now, f"timer:{timers[0].id}")
                await self.service.tick(work, timers)
            for timer in timers:
                late = (now - timer.due).total_seconds()
                self.lateness.append(late)
                if self.on_fired is not None:
                    self.on_fired(timer, late)
            if len(self.lateness) > 100_000:
                del self.lateness[:50_000]
            total += len(timers)
            self.fired += len(timers)
            self.on_commit(work)
        return total

    async def sweep(self) -> None:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            work = Work(tx, now, f"sweep:{now.timestamp():.6f}")
            await self.service.sweep_drafts(work)
        self.on_commit(work)
