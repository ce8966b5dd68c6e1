"""Read-only counts for metrics and health: no content, no identities, only numbers and timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.codec import from_ts
from bot.store.sqlite import SqliteStore

#: Case states that count as open (SPEC: resolved and withdrawn cases are closed).
OPEN_STATES = ("open", "acknowledged", "claimed")


@dataclass(frozen=True, slots=True)
class Queue:
    """Rows waiting in one queue: how many, and when the oldest arrived."""

    depth: int
    oldest: datetime | None


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    event_id: int
    urgency: str
    seconds: float


async def open_cases(store: SqliteStore) -> dict[tuple[str, str, str], int]:
    """Open cases per (space, urgency, state)."""
    sql = (
        "SELECT space, urgency, state, COUNT(*) FROM cases "
        f"WHERE state IN ({','.join('?' * len(OPEN_STATES))}) GROUP BY 1, 2, 3"
    )
    async with store._lock, store.db.execute(sql, OPEN_STATES) as cursor:
        return {(row[0], row[1], row[2]): int(row[3]) for row in await cursor.fetchall()}


async def outbox_queues(store: SqliteStore) -> dict[tuple[str, int], Queue]:
    """Queued or in-flight outbox rows per (platform, lane)."""
    sql = (
        "SELECT platform, lane, COUNT(*), MIN(created_at) FROM outbox "
        "WHERE state IN ('pending', 'sending') GROUP BY 1, 2"
    )
    async with store._lock, store.db.execute(sql) as cursor:
        return {(row[0], int(row[1])): Queue(int(row[2]), from_ts(row[3])) for row in await cursor.fetchall()}


async def inbox_queues(store: SqliteStore) -> dict[str, Queue]:
    """Recorded but not yet applied updates per source (platform)."""
    sql = "SELECT source, COUNT(*), MIN(received_at) FROM inbox WHERE processed_at IS NULL GROUP BY 1"
    async with store._lock, store.db.execute(sql) as cursor:
        return {row[0]: Queue(int(row[1]), from_ts(row[2])) for row in await cursor.fetchall()}


async def last_event_id(store: SqliteStore) -> int:
    async with store._lock, store.db.execute("SELECT COALESCE(MAX(id), 0) FROM case_events") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def acknowledgements_after(store: SqliteStore, event_id: int) -> list[Acknowledgement]:
    """First acknowledgements recorded after ``event_id``, with the time from filing to acknowledging."""
    sql = (
        "SELECT e.id, c.urgency, e.at - c.created_at FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE e.kind = 'acknowledged' AND e.id > ? AND NOT EXISTS (SELECT 1 FROM case_events p "
        "WHERE p.case_id = e.case_id AND p.kind = 'acknowledged' AND p.id < e.id) ORDER BY e.id"
    )
    async with store._lock, store.db.execute(sql, (event_id,)) as cursor:
        return [Acknowledgement(int(row[0]), row[1], max(0.0, float(row[2]))) for row in await cursor.fetchall()]


async def probe_write(store: SqliteStore, now: datetime) -> None:
    """A tiny committed write: raises if the database cannot be written (read-only, disk full, locked)."""
    await store.remember("health.probe", now.isoformat())
