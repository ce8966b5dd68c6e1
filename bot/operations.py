"""Operations around a running Haven: health and metrics over HTTP, the loop watch and the watchdog.

:class:`Operations` attaches the metrics hooks to the runtime, and starts and stops everything in
order. ``haven run`` uses it; the demo may too.
"""

from __future__ import annotations

import logging

from bot.config import OperationsSettings
from bot.health import Health, HealthServer
from bot.metrics import Metrics
from bot.runtime import Haven
from bot.watchdog import LoopWatch, Watchdog

log = logging.getLogger(__name__)


class Operations:
    def __init__(self, haven: Haven, settings: OperationsSettings) -> None:
        self.watch = LoopWatch(settings.stall_after.total_seconds(), on_stall=self._stalled)
        spaces = [space.id for space in haven.service.directory.spaces]
        self.metrics = Metrics(haven.store, haven.transports, spaces, haven.clock, self.watch.age)
        haven.inbox.on_fact = self.metrics.fact
        haven.timers.on_fired = self.metrics.timer_fired
        for sender in haven.senders.values():
            sender.on_delivered = self.metrics.delivered
        self.health = Health(haven, self.watch, poll_stale_after=settings.poll_stale_after)
        self.watchdog = Watchdog(
            haven,
            outage_notice_after=settings.outage_notice_after,
            deadman_url=settings.deadman_url,
            deadman_every=settings.deadman_every,
            healthy=self.health.healthy,
            on_deadman=lambda result: self.metrics.deadman_pings.labels(result).inc(),
            on_notice=lambda platform, state: self.metrics.outage_notices.labels(platform, state).inc(),
        )
        self.server = (
            HealthServer(settings.health_address, self.health, self.metrics) if settings.health_address else None
        )

    def _stalled(self) -> None:
        self.metrics.loop_stalls.inc()

    async def start(self) -> None:
        """Start after :meth:`Haven.start` (the store must be open)."""
        await self.watch.start()
        await self.health.start()
        await self.metrics.start()
        await self.watchdog.start()
        if self.server is not None:
            try:
                self.server.start()
            except OSError as error:
                # Reporters matter more than dashboards: keep running; the monitors will notice.
                log.error("health and metrics cannot be served", extra={"reason": error.strerror or str(error)})
                self.server = None

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        await self.watchdog.stop()
        await self.watch.stop()
