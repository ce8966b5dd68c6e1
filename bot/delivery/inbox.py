"""The inbox processor: turns recorded platform updates into facts and applies them, exactly once.

Adapters record each update (deduplicated by its platform id) before confirming it to the platform.
This processor maps a recorded update to facts (a pure function per source), applies them through
the service and marks the row processed in the same transaction, so a crash at any point neither
loses an update nor applies it twice. Rows are processed in batches sharing one transaction (group
commit); if a batch fails, its rows are retried one by one so that one bad update cannot block others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.messages import Fact
from bot.ports import Clock, InboundRow
from bot.service import Service
from bot.store.sqlite import SqliteStore
from bot.work import Work

log = logging.getLogger(__name__)

Mapper = Callable[[Mapping[str, Any]], Sequence[Fact]]
BATCH = 64


class InboxProcessor:
    def __init__(
        self,
        store: SqliteStore,
        service: Service,
        mappers: Mapping[str, Mapper],
        clock: Clock,
        on_commit: Callable[[Work], None],
        *,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.service = service
        self.mappers = dict(mappers)
        self.clock = clock
        self.on_commit = on_commit
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._draining = asyncio.Lock()
        self.processed = 0
        self.failed = 0
        self.latencies: list[float] = []
        #: Called with (source, fact) for every fact of a committed update (metrics count them).
        self.on_fact: Callable[[str, Fact], None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox")
        self.wake()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            try:
                while await self.drain_once() and not self._stopping:
                    pass
            except Exception:
                log.exception("the inbox processor stumbled; it will retry")
                await asyncio.sleep(1)
                self._wake.set()

    async def drain(self) -> int:
        """Process everything pending (used by tests and at shutdown)."""
        total = 0
        while count := await self.drain_once():
            total += count
        return total

    async def drain_once(self) -> int:
        async with self._draining:
            return await self._drain_once()

    async def _drain_once(self) -> int:
        rows = await self.store.pending_inbound(self.batch)
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            await self._apply(rows)
        except Exception:
            log.warning("a batch of %d updates failed; retrying them one by one", len(rows))
            for row in rows:
                try:
                    await self._apply([row])
                except Exception as error:
                    self.failed += 1
                    log.error("update %s from %s could not be processed: %s", row.id, row.source, type(error).__name__)
                    await self._quarantine(row)
        self.latencies.append(time.perf_counter() - started)
        if len(self.latencies) > 10_000:
            del self.latencies[:5_000]
        return len(rows)

    async def _apply(self, rows: Sequence[InboundRow]) -> None:
        works: list[Work] = []
        applied: list[tuple[str, Fact]] = []
        async with self.store.transaction() as tx:
            claimed = await self.store.claim_inbound(tx, [row.id for row in rows])
            batch = [(row, self._facts(row)) for row in rows if row.id in claimed]  # others: applied already
            await tx.prefetch_conversations(f.origin.chat for _, facts in batch for f in facts if hasattr(f, "origin"))
            for row, facts in batch:
                work = Work(tx, self.clock.now(), f"in:{row.id}")
                for fact in facts:
                    await self.service.handle(work, fact)
                    applied.append((row.source, fact))
                works.append(work)
            await self.store.stamp_applied(tx, sorted(claimed))
        self.processed += len(rows)
        for work in works:
            self.on_commit(work)
        if self.on_fact is not None:
            for source, fact in applied:
                self.on_fact(source, fact)

    def _facts(self, row: InboundRow) -> Sequence[Fact]:
        mapper = self.mappers.get(row.source)
        return mapper(row.payload) if mapper else ()

    async def _quarantine(self, row: InboundRow) -> None:
        """Mark a failing update processed so it cannot block the others; its sealed payload is kept."""
        async with self.store.transaction() as tx:
            await self.store.quarantine_inbound(tx, row.id)
