"""The running bot: store, inbox processor, one sender per platform, timers, and their lifecycle.

Data flows one way: platform payload → inbox → fact → service → state + outbox → sender → platform.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bot.delivery.inbox import InboxProcessor, Mapper
from bot.delivery.outbox import Sender
from bot.domain.model import Lane
from bot.messages import DeliveryFailed, FileFetched
from bot.ports import Clock, Transport
from bot.service import Service
from bot.store.sqlite import SqliteStore
from bot.timers import TimerRunner
from bot.work import Work

log = logging.getLogger(__name__)


class StoreSink:
    """The :class:`bot.ports.InboundSink` adapters record into."""

    def __init__(self, store: SqliteStore, on_record: Any) -> None:
        self.store = store
        self.on_record = on_record

    async def record(
        self,
        source: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        cursor: tuple[str, str] | None = None,
    ) -> int:
        added = await self.store.record_inbound(source, items, cursor)
        if added:
            self.on_record()
        return added

    async def recall(self, name: str) -> str | None:
        return await self.store.recall(name)

    async def remember(self, name: str, value: str) -> None:
        await self.store.remember(name, value)


class Haven:
    def __init__(
        self,
        store: SqliteStore,
        service: Service,
        transports: Sequence[Transport],
        mappers: Mapping[str, Mapper],
        clock: Clock,
    ) -> None:
        self.store = store
        self.service = service
        self.clock = clock
        self.transports = {t.platform: t for t in transports}
        self.inbox = InboxProcessor(store, service, mappers, clock, self._committed)
        self.senders = {
            platform: Sender(store, transport, clock, self._delivery_failed, self._file_fetched)
            for platform, transport in self.transports.items()
        }
        self.timers = TimerRunner(store, service, clock, self._committed)
        self.sink = StoreSink(store, self.inbox.wake)
        self.ready = asyncio.Event()
        self._stopped = asyncio.Event()

    def _committed(self, work: Work) -> None:
        for hook in work.after_commit:
            hook()
        for platform in work.platforms:
            sender = self.senders.get(platform)
            if sender is not None:
                sender.wake()
        if work.wake is not None:
            self.timers.wake_at(work.wake)

    async def perform(self, cause: str, job: Callable[[Work], Awaitable[None]]) -> None:
        """Run one unit of work that no inbound update caused (an operations notice), then wake the senders.

        ``cause`` makes the outbox keys: the same cause never queues the same message twice.
        """
        async with self.store.transaction() as tx:
            work = Work(tx, self.clock.now(), cause)
            await job(work)
        self._committed(work)

    async def _delivery_failed(self, failure: DeliveryFailed, key: str) -> None:
        """Record the failure as an inbound fact, so the service handles it durably and once."""
        payload = {
            "kind": "delivery-failed",
            "to": failure.to,
            "reason": failure.reason,
            "case": failure.case,
            "person": failure.person,
            "lane": int(failure.lane if failure.lane is not None else Lane.PAGE),
        }
        await self.sink.record("internal", [(f"failed:{key}", payload)])

    async def _file_fetched(self, fetched: FileFetched, key: str) -> None:
        """Record a downloaded file as an inbound fact (sealed in the inbox, wiped once handled)."""
        payload = {
            "kind": "file-fetched",
            "chat": fetched.chat,
            "purpose": fetched.purpose,
            "context": fetched.context,
            "data": base64.b64encode(fetched.data).decode("ascii"),
        }
        await self.sink.record("internal", [(f"fetched:{key}", payload)])

    async def start(self) -> None:
        await self.store.open()
        for sender in self.senders.values():
            await sender.start()
        await self.inbox.start()
        await self.timers.start()
        for transport in self.transports.values():
            await transport.start(self.sink)
        self.ready.set()
        log.info("ready", extra={"platforms": sorted(self.transports)})

    async def stop(self, drain: float = 5.0) -> None:
        """Stop receiving, finish what was received, let queued messages leave, then close."""
        for transport in self.transports.values():
            try:
                await transport.stop()
            except Exception:
                log.exception("stopping a transport failed")
        await self.inbox.drain()
        await self.inbox.stop()
        await self.timers.stop()
        for sender in self.senders.values():
            await sender.stop(drain)
        await self.store.close()
        self._stopped.set()

    async def settle(self, rounds: int = 50) -> None:
        """Until nothing moves: process the inbox, fire due timers, let senders empty (tests)."""
        for _ in range(rounds):
            moved = await self.inbox.drain()
            moved += await self.timers.run_due()
            for sender in self.senders.values():
                sender.wake()
            await asyncio.sleep(0)
            waiting = 0
            for platform, sender in self.senders.items():
                for _ in range(400):
                    if not sender.busy() and not await self.store.pending_outgoing(platform):
                        break
                    sender.wake()
                    await asyncio.sleep(0.005)
                waiting += await self.store.pending_outgoing(platform)
            if not moved and not waiting and not await self.store.pending_inbound(1):
                return
