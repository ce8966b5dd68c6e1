"""Prometheus metrics: what a volunteer needs to see that Haven works, and nothing about anyone.

Counters and histograms are observed where things happen (hooks on the inbox processor, the senders
and the timers). Queue depths and open cases are read from the database when Prometheus scrapes, on
the event loop, and kept as a snapshot that the HTTP thread serves. Labels are platforms, lanes,
urgencies, states and space ids: never a person, a chat or a case reference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.domain.ids import Platform
from bot.domain.model import Lane, Urgency
from bot.escalation import ESCALATE
from bot.messages import Fact, Outgoing, Undecryptable
from bot.ports import Clock, Timer, Transport
from bot.store import monitoring
from bot.store.sqlite import SqliteStore

PAGE_LANES = (Lane.EMERGENCY, Lane.PAGE)


def lane_name(lane: int) -> str:
    return Lane(lane).name.lower()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Values read from the database at the last refresh (all zero-filled for known label sets)."""

    open_cases: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    outbox_depth: Mapping[tuple[str, str], int] = field(default_factory=dict)
    outbox_age: Mapping[tuple[str, str], float] = field(default_factory=dict)
    inbound_pending: Mapping[str, int] = field(default_factory=dict)
    inbound_lag: Mapping[str, float] = field(default_factory=dict)


class _Live(Collector):
    """Serves the last snapshot, plus values read at scrape time without the event loop."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[GaugeMetricFamily]:
        snap = self.metrics.snapshot
        cases = GaugeMetricFamily(
            "haven_open_cases", "Open cases (not resolved or withdrawn).", labels=["space", "urgency", "state"]
        )
        for (space, urgency, state), count in sorted(snap.open_cases.items()):
            cases.add_metric([space, urgency, state], count)
        depth = GaugeMetricFamily(
            "haven_outbox_depth", "Outbox items queued or being sent.", labels=["platform", "lane"]
        )
        for key, count in sorted(snap.outbox_depth.items()):
            depth.add_metric(list(key), count)
        age = GaugeMetricFamily(
            "haven_outbox_oldest_age_seconds",
            "Age of the oldest outbox item queued or being sent (0 when the lane is empty).",
            labels=["platform", "lane"],
        )
        for key, seconds in sorted(snap.outbox_age.items()):
            age.add_metric(list(key), seconds)
        pending = GaugeMetricFamily(
            "haven_inbound_pending", "Updates recorded but not yet applied.", labels=["platform"]
        )
        for platform, count in sorted(snap.inbound_pending.items()):
            pending.add_metric([platform], count)
        lag = GaugeMetricFamily(
            "haven_inbound_lag_seconds",
            "Age of the oldest update recorded but not yet applied (0 when none waits).",
            labels=["platform"],
        )
        for platform, seconds in sorted(snap.inbound_lag.items()):
            lag.add_metric([platform], seconds)
        contact = GaugeMetricFamily(
            "haven_platform_contact_age_seconds",
            "Seconds since the platform last answered a poll or sync (-1 before the first answer).",
            labels=["platform"],
        )
        now = datetime.now(UTC)
        for platform, transport in sorted(self.metrics.transports.items()):
            last = transport.last_contact
            contact.add_metric([platform], (now - last).total_seconds() if last else -1.0)
        loop = GaugeMetricFamily(
            "haven_event_loop_heartbeat_age_seconds", "Seconds since the event loop last ran the heartbeat."
        )
        loop.add_metric([], self.metrics.heartbeat_age())
        scraped = GaugeMetricFamily(
            "haven_metrics_refreshed_age_seconds", "Seconds since the database values above were read."
        )
        scraped.add_metric([], time.monotonic() - self.metrics.refreshed_at)
        yield from (cases, depth, age, pending, lag, contact, loop, scraped)


class Metrics:
    def __init__(
        self,
        store: SqliteStore,
        transports: Mapping[Platform, Transport],
        spaces: Sequence[str],
        clock: Clock,
        heartbeat_age: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.store = store
        self.transports = dict(transports)
        self.spaces = tuple(spaces)
        self.clock = clock
        self.heartbeat_age = heartbeat_age
        self.snapshot = Snapshot()
        self.refreshed_at = time.monotonic()
        self._acknowledged_after = 0
        self._refreshing = asyncio.Lock()
        self.registry = CollectorRegistry()
        platforms: list[str] = sorted(self.transports)
        self.page_latency = Histogram(
            "haven_page_latency_seconds",
            "Seconds from queueing an emergency- or page-lane item to the platform accepting it.",
            ["platform", "lane"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.time_to_acknowledge = Histogram(
            "haven_time_to_acknowledge_seconds",
            "Seconds from a case being filed to its first acknowledgement.",
            ["urgency"],
            buckets=(15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200),
            registry=self.registry,
        )
        self.escalation_lateness = Histogram(
            "haven_escalation_lateness_seconds",
            "Seconds an escalation step fired after it was due.",
            buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.decrypt_failures = Counter(
            "haven_decrypt_failures",
            "Messages the bot could not decrypt (Undecryptable facts applied).",
            ["platform"],
            registry=self.registry,
        )
        self.loop_stalls = Counter(
            "haven_event_loop_stalls", "Times the event loop stopped answering for too long.", registry=self.registry
        )
        self.deadman_pings = Counter(
            "haven_deadman_pings", "Dead man's switch pings, by result.", ["result"], registry=self.registry
        )
        self.outage_notices = Counter(
            "haven_outage_notices",
            "Notices queued to coordinators about a platform that is down or back.",
            ["platform", "state"],
            registry=self.registry,
        )
        for platform in platforms:
            for lane in PAGE_LANES:
                self.page_latency.labels(platform, lane_name(lane))
            self.decrypt_failures.labels(platform)
        for urgency in Urgency:
            self.time_to_acknowledge.labels(urgency.value)
        for result in ("ok", "failed", "skipped"):
            self.deadman_pings.labels(result)
        self.registry.register(_Live(self))

    # --- hooks (called on the event loop) --------------------------------------------------------

    def delivered(self, item: Outgoing) -> None:
        if item.lane in PAGE_LANES and item.queued_at is not None:
            seconds = max(0.0, (self.clock.now() - item.queued_at).total_seconds())
            platform = item.effect.to.split(":", 1)[0]
            self.page_latency.labels(platform, lane_name(item.lane)).observe(seconds)

    def fact(self, source: str, fact: Fact) -> None:
        """Counts decrypt failures: an adapter reports one by recording an ``Undecryptable`` fact."""
        if isinstance(fact, Undecryptable):
            self.decrypt_failures.labels(source).inc()

    def timer_fired(self, timer: Timer, late: float) -> None:
        if timer.kind == ESCALATE:
            self.escalation_lateness.observe(max(0.0, late))

    # --- the database side -----------------------------------------------------------------------

    async def start(self) -> None:
        """Acknowledgements from before this process started are history, not observations."""
        self._acknowledged_after = await monitoring.last_event_id(self.store)
        await self.refresh()

    async def refresh(self) -> None:
        """Read counts and queue ages, and observe acknowledgements made since the last refresh."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        now = self.clock.now()
        platforms: list[str] = sorted(self.transports)
        open_cases = {
            (space, urgency.value, state): 0
            for space in self.spaces
            for urgency in Urgency
            for state in monitoring.OPEN_STATES
        }
        open_cases.update(await monitoring.open_cases(self.store))
        depth = {(p, lane_name(lane)): 0 for p in platforms for lane in Lane}
        age = {(p, lane_name(lane)): 0.0 for p in platforms for lane in Lane}
        for (platform, lane), queue in (await monitoring.outbox_queues(self.store)).items():
            key = (platform, lane_name(lane))
            depth[key] = queue.depth
            age[key] = _age(now, queue.oldest)
        pending = dict.fromkeys(platforms, 0)
        lag = dict.fromkeys(platforms, 0.0)
        for source, queue in (await monitoring.inbox_queues(self.store)).items():
            if source in pending:
                pending[source] = queue.depth
                lag[source] = _age(now, queue.oldest)
        for ack in await monitoring.acknowledgements_after(self.store, self._acknowledged_after):
            self.time_to_acknowledge.labels(ack.urgency).observe(ack.seconds)
            self._acknowledged_after = ack.event_id
        self.snapshot = Snapshot(open_cases, depth, age, pending, lag)
        self.refreshed_at = time.monotonic()


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
