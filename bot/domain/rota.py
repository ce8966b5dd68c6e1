"""Who is on call: explicit shifts, weekly patterns and overrides, in the space's time zone.

Shift times are local wall-clock times of the space; they are turned into instants with
:mod:`zoneinfo`, so a 20:00-08:00 night shift lasts 11 or 13 hours across a daylight-saving change,
exactly as the people working it experience it. All comparisons happen on aware datetimes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.ids import Identity

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Shift:
    """An explicit shift, in local time of the space (naive datetimes)."""

    responders: tuple[Identity, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class WeeklyShift:
    """A recurring shift on the given weekdays (0 = Monday); ``end <= start`` runs past midnight."""

    responders: tuple[Identity, ...]
    weekdays: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Override:
    """``covering`` is on call from ``start`` to ``end`` (aware), in place of ``covered`` if given."""

    covering: Identity
    start: datetime
    end: datetime
    covered: Identity | None = None


@dataclass(frozen=True, slots=True)
class Window:
    responders: frozenset[Identity]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Rota:
    timezone: str = "UTC"
    shifts: tuple[Shift, ...] = ()
    weekly: tuple[WeeklyShift, ...] = ()
    overrides: tuple[Override, ...] = field(default=())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def windows(self, start: datetime, end: datetime) -> Iterator[Window]:
        """Every base shift (explicit or weekly) overlapping ``[start, end)``, as aware windows."""
        for shift in self.shifts:
            window = Window(frozenset(shift.responders), self.local(shift.start), self.local(shift.end))
            if window.start < end and window.end > start:
                yield window
        if not self.weekly:
            return
        zone = self.zone
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        day = first
        while day <= last:
            for pattern in self.weekly:
                if day.weekday() in pattern.weekdays:
                    window = _weekly_window(pattern, day, self)
                    if window.start < end and window.end > start:
                        yield window
            day += timedelta(days=1)

    def on_call(self, at: datetime) -> frozenset[Identity]:
        """The responders on call at instant ``at`` (aware), overrides applied."""
        people: set[Identity] = set()
        for window in self.windows(at, at + timedelta(microseconds=1)):
            people |= window.responders
        for override in self.overrides:
            if override.start <= at < override.end:
                if override.covered is not None:
                    people.discard(override.covered)
                people.add(override.covering)
        return frozenset(people)

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants in ``(start, end]`` where the on-call set may change, sorted."""
        points: set[datetime] = set()
        for window in self.windows(start, end + timedelta(microseconds=1)):
            points.update((window.start, window.end))
        for override in self.overrides:
            points.update((override.start, override.end))
        return sorted(p for p in points if start < p <= end)

    def next_change(
        self, at: datetime, horizon: timedelta = timedelta(days=8)
    ) -> tuple[datetime, frozenset[Identity]] | None:
        """When the on-call set next changes after ``at``, and who is on call then."""
        now = self.on_call(at)
        for point in self.boundaries(at, at + horizon):
            later = self.on_call(point)
            if later != now:
                return point, later
        return None

    def shift_starts(self, start: datetime, end: datetime) -> list[tuple[datetime, frozenset[Identity]]]:
        """Handovers in ``(start, end]``: each instant where someone comes on call, with the newcomers."""
        handovers: list[tuple[datetime, frozenset[Identity]]] = []
        for point in self.boundaries(start, end):
            before = self.on_call(point - timedelta(microseconds=1))
            incoming = self.on_call(point) - before
            if incoming:
                handovers.append((point, incoming))
        return handovers

    def people(self) -> frozenset[Identity]:
        """Everyone the rota names."""
        named: set[Identity] = set()
        for shift in self.shifts:
            named.update(shift.responders)
        for pattern in self.weekly:
            named.update(pattern.responders)
        for override in self.overrides:
            named.add(override.covering)
            if override.covered:
                named.add(override.covered)
        return frozenset(named)

    def with_overrides(self, overrides: Iterable[Override]) -> Rota:
        return Rota(self.timezone, self.shifts, self.weekly, tuple(overrides))


def _weekly_window(pattern: WeeklyShift, day: date, rota: Rota) -> Window:
    start = rota.local(datetime.combine(day, pattern.start))
    end_day = day if pattern.end > pattern.start else day + timedelta(days=1)
    end = rota.local(datetime.combine(end_day, pattern.end))
    return Window(frozenset(pattern.responders), start, end)


def parse_weekdays(names: Iterable[str]) -> frozenset[int]:
    """``["mon", "fri"]`` or ``["mon-fri"]`` to weekday numbers; raise ValueError on unknown names."""
    days: set[int] = set()
    for raw in names:
        name = raw.strip().lower()[:7]
        if "-" in name:
            first, last = (WEEKDAYS.index(part[:3]) for part in name.split("-", 1))
            span = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
            days.update(span)
        else:
            days.add(WEEKDAYS.index(name[:3]))
    return frozenset(days)
