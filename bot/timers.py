"""Timers: the database holds them; APScheduler only wakes the process when the next one is due.

One date job (``timers``) is armed for the earliest pending timer (``misfire_grace_time=None``:
a late wake-up still runs; ``coalesce``: piled-up wake-ups run once). When it fires, every due timer is
handled in transactions that mark them fired, so each fires exactly once even across restarts; then the
job is re-armed from the database. A wake-up that comes while a firing is still running is remembered,
not dropped: the firing looks again before it ends (the P3 benchmark caught the old runner losing it).
Periodic jobs (draft reminders, retention, the keyring) run on the same scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.ports import Clock, Timer
from bot.service import Service
from bot.store.sqlite import SqliteStore
from bot.work import Work

log = logging.getLogger(__name__)

JOB = "timers"


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
        self._firing = False
        self._again = False
        self.fired = 0
        self.lateness: list[float] = []
        #: Called with every fired timer and how late it fired, in seconds (metrics).
        self.on_fired: Callable[[Timer, float], None] | None = None

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.start()
        self._periodic("drafts", self.sweep, self.sweep_every)
        self._periodic("retention", self.purge, timedelta(hours=24), first=self.clock.now() + timedelta(minutes=5))
        self._periodic("keyring", self._reload_keys, timedelta(seconds=10))
        await self.startup()
        await self.rearm()

    def _periodic(
        self, name: str, job: Callable[[], Awaitable[Any]], every: timedelta, first: datetime | None = None
    ) -> None:
        """A periodic job: a late run still runs, piled-up runs run once, never two at a time."""
        assert self.scheduler is not None
        extra = {"next_run_time": first} if first else {}
        self.scheduler.add_job(
            job,
            "interval",
            seconds=every.total_seconds(),
            id=name,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
            **extra,
        )

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
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def wake_at(self, when: datetime) -> None:
        """A timer due at ``when`` was committed: arm the job if that is earlier than it is armed for."""
        if self.scheduler is None:
            return
        if self._armed is not None and self._armed <= when:
            return
        self._armed = when
        self.scheduler.add_job(
            self._fire,
            "date",
            run_date=when,
            id=JOB,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=2,  # a wake-up during a firing must reach _fire, which then defers it
        )

    async def _fire(self) -> None:
        if self._firing:
            self._again = True  # the running firing looks again before it ends
            return
        self._firing = True
        try:
            while True:
                self._again = False
                try:
                    await self.run_due()
                except Exception:
                    log.exception("firing timers failed; retrying in 5 s")
                    self._armed = None
                    self.wake_at(self.clock.now() + timedelta(seconds=5))
                    return
                if not self._again:
                    break
        finally:
            self._firing = False
        await self.rearm()

    async def rearm(self) -> None:
        """Arm the job for the next pending timer in the database, whatever it was armed for before."""
        self._armed = None
        following = await self.store.next_timer_at()
        if following is not None:
            self.wake_at(following)

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
