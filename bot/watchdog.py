"""The watchdog: a silent bot during an event is the worst failure, so Haven watches itself.

* :class:`LoopWatch` — a heartbeat on the event loop and a thread that watches it. A stall longer than
  ``stall_after`` is logged once, with the stack of the loop's thread (what blocked it), and again when
  the loop recovers.
* :class:`Watchdog` — on the loop, once a second: tells coordinators on another platform when a
  platform has not answered for ``outage_notice_after`` (and when it is back), and pings the dead
  man's switch while Haven is healthy, so an outside monitor notices when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.domain.ids import ChatAddress, platform_of
from bot.domain.model import Lane
from bot.i18n import Renderable
from bot.runtime import Haven
from bot.work import Work
from flows import notices

log = logging.getLogger(__name__)


class LoopWatch:
    def __init__(self, stall_after: float, on_stall: Callable[[], None] = lambda: None) -> None:
        self.stall_after = stall_after
        self.on_stall = on_stall
        self.beat = time.monotonic()
        self.stalled = False
        self._interval = min(0.25, stall_after / 4)
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def age(self) -> float:
        """Seconds since the loop last ran the heartbeat."""
        return max(0.0, time.monotonic() - self.beat)

    async def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self.beat = time.monotonic()
        self._task = asyncio.create_task(self._heartbeat(), name="heartbeat")
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="haven-loop-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    async def _heartbeat(self) -> None:
        while True:
            self.beat = time.monotonic()
            await asyncio.sleep(self._interval)

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            age = self.age()
            if age > self.stall_after and not self.stalled:
                self.stalled = True
                self.on_stall()
                log.error(
                    "event loop stalled",
                    extra={"seconds": round(age, 1), "stack": self.loop_stack()},
                )
            elif self.stalled and age <= self.stall_after:
                self.stalled = False
                log.warning("event loop recovered")

    def loop_stack(self) -> str:
        frame = sys._current_frames().get(self._loop_thread or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else "(the loop thread is gone)"


class Watchdog:
    def __init__(
        self,
        haven: Haven,
        *,
        outage_notice_after: timedelta,
        deadman_url: str | None = None,
        deadman_every: timedelta = timedelta(minutes=1),
        healthy: Callable[[], Awaitable[bool]] | None = None,
        on_deadman: Callable[[str], None] = lambda result: None,
        on_notice: Callable[[str, str], None] = lambda platform, state: None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.haven = haven
        self.outage_notice_after = outage_notice_after
        self.deadman_url = deadman_url
        self.deadman_every = deadman_every
        self.healthy = healthy
        self.on_deadman = on_deadman
        self.on_notice = on_notice
        self.wall = wall
        self.started = wall()
        #: Platforms currently reported down, with when they last answered before.
        self.down: dict[str, datetime | None] = {}
        self._next_ping = 0.0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.started = self.wall()
        if self.deadman_url:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._run(), name="watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.check_platforms()
                if self.deadman_url and time.monotonic() >= self._next_ping:
                    self._next_ping = time.monotonic() + self.deadman_every.total_seconds()
                    await self.ping()
            except Exception:
                log.exception("the watchdog stumbled; it goes on")
            await asyncio.sleep(1)

    # --- platform outages --------------------------------------------------------------------------

    async def check_platforms(self) -> None:
        now = self.wall()
        for platform, transport in self.haven.transports.items():
            last = transport.last_contact
            silent_for = now - (last or self.started)
            if platform not in self.down and silent_for > self.outage_notice_after:
                self.down[platform] = last
                minutes = int(silent_for.total_seconds() // 60)
                log.error("platform unreachable", extra={"platform": platform, "minutes": minutes})
                since = int((last or self.started).timestamp())
                await self.tell_elsewhere(platform, notices.platform_down(platform, minutes), f"down:{since}")
                self.on_notice(platform, "down")
            elif platform in self.down and last is not None and last != self.down[platform]:
                del self.down[platform]
                log.warning("platform reachable again", extra={"platform": platform})
                await self.tell_elsewhere(platform, notices.platform_back(platform), f"back:{int(now.timestamp())}")
                self.on_notice(platform, "back")

    async def tell_elsewhere(self, platform: str, text: Renderable, cause: str) -> int:
        """Queue ``text`` to every coordinator reachable on another running platform; returns how many."""
        service = self.haven.service
        told: set[ChatAddress] = set()

        async def queue(work: Work) -> None:
            for space in service.directory.spaces:
                for person in space.coordinator_people():
                    language = service.speaker.language_of(person, space)
                    for address in service.speaker.addresses(person):
                        if platform_of(address) == platform or address in told:
                            continue
                        told.add(address)
                        await service.speaker.say(work, address, text, language, lane=Lane.PAGE)

        await self.haven.perform(f"ops:{platform}:{cause}", queue)
        if not told:
            log.warning("no coordinator can be told on another platform", extra={"platform": platform})
        return len(told)

    # --- dead man's switch -------------------------------------------------------------------------

    async def ping(self) -> None:
        """Ping the outside monitor, only while every health check passes (so it notices trouble too)."""
        assert self.deadman_url is not None and self._session is not None
        if self.healthy is not None and not await self.healthy():
            log.warning("dead man's switch not pinged: Haven is unhealthy")
            self.on_deadman("skipped")
            return
        try:
            async with self._session.get(self.deadman_url) as response:
                ok = response.status < 400
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("dead man's switch ping failed", extra={"reason": type(error).__name__})
            ok = False
        self.on_deadman("ok" if ok else "failed")
