"""The outbox sender of one platform.

Queued effects leave by priority lane (emergency > page > conversation > bulk), oldest first within a
lane, one at a time per chat (so a chat's messages keep their order), within the platform's per-chat
and global limits. Ordinary messages may use two thirds of the global limit, so an emergency's pages
never wait for a backlog's burst to slide out of the window. A ``retry_after`` holds back that chat only.

Delivery semantics. Before a request leaves, its row is marked ``sending``. If the process dies
before the answer comes back, or the answer never comes (a timeout after the request left), the send
is *ambiguous*: emergency pages to people are sent again (at least once), everything else is not (at
most once, the emergency's receipt and card too), so a restart never duplicates a receipt, a card or
an ordinary page.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.delivery.ratelimit import RateLimiter
from bot.domain.ids import ChatAddress, Platform
from bot.domain.model import Lane
from bot.messages import (
    Ambiguous,
    Delivered,
    DeliveryFailed,
    EditCard,
    Failed,
    FetchFile,
    FileFetched,
    Outgoing,
    PostCard,
    Rejected,
    RetryLater,
    Send,
    SendFile,
    Unreachable,
)
from bot.ports import CardRef, Clock, Transport
from bot.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
#: The largest file the bot downloads (a registration list, not media).
FETCH_LIMIT = 2 * 1024 * 1024
CONCURRENCY = 8


def _pages_in_emergency(item: Outgoing) -> bool:
    """An emergency page to a person: the one kind of message sent again when its fate is unknown.

    Receipts, cards and thread notices of an emergency are sent at most once, like everything else:
    a duplicate of those helps nobody, while a missed page may cost a life.
    """
    return item.lane == Lane.EMERGENCY and isinstance(item.effect, Send) and item.effect.person is not None


@dataclass(slots=True)
class _Chat:
    queue: deque[Outgoing]
    busy: bool = False


class Sender:
    def __init__(
        self,
        store: SqliteStore,
        transport: Transport,
        clock: Clock,
        report_failure: Callable[[DeliveryFailed, str], Awaitable[None]],
        report_file: Callable[[FileFetched, str], Awaitable[None]] | None = None,
        *,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.store = store
        self.transport = transport
        self.platform: Platform = transport.platform
        self.clock = clock
        self.report_failure = report_failure
        self.report_file = report_file
        self.concurrency = concurrency
        limits = transport.limits
        self.limiter = RateLimiter(
            global_per_second=limits.global_per_second,
            private_per_second=limits.private_per_second,
            group_per_minute=limits.group_per_minute,
            is_group=lambda chat: transport.is_group(ChatAddress(chat)),
        )
        self._chats: dict[str, _Chat] = {}
        self._ready: list[tuple[int, int, str]] = []
        self._delayed: list[tuple[float, str]] = []
        self._last_id = 0
        self._refreshing = asyncio.Lock()
        self._idle = asyncio.Event()
        self._tidied = time.monotonic()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        #: Called with every item the platform accepted (metrics measure page latency).
        self.on_delivered: Callable[[Outgoing], None] | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._recover()
        await self._load()
        self._task = asyncio.create_task(self._run(), name=f"sender-{self.platform}")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, drain: float = 5.0) -> None:
        """Stop taking new items; give what is queued ``drain`` seconds to leave."""
        deadline = time.monotonic() + drain
        if self.pending():
            self._idle.clear()
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=drain)
        self._stopping = True
        self._wake.set()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=max(0.1, deadline - time.monotonic()))

    def pending(self) -> int:
        return sum(len(chat.queue) for chat in self._chats.values())

    def busy(self) -> bool:
        return bool(self._inflight)

    # --- loading ----------------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Items that were mid-send when the process stopped: their fate is unknown."""
        for item in await self.store.interrupted_outgoing():
            if item.effect.to.split(":", 1)[0] != self.platform:
                continue
            if _pages_in_emergency(item):
                log.warning("resending emergency page %s after an interrupted send", item.id)
                await self.store.retry_outgoing(item.id, self.clock.now())
            else:
                log.warning("not resending item %s after an interrupted send (at most once)", item.id)
                await self.store.finish_outgoing(item.id, "ambiguous", detail="interrupted by a restart")

    async def _load(self) -> None:
        await self.refresh()

    def _add(self, item: Outgoing) -> None:
        if item.id <= self._last_id:
            return
        self._last_id = item.id
        chat = self._chats.get(item.effect.to)
        if chat is None:
            chat = self._chats[item.effect.to] = _Chat(deque())
        chat.queue.append(item)
        if len(chat.queue) > 1 and item.lane < chat.queue[-2].lane:
            # An urgent item overtakes the queued ones, but never the one on its way (the head of a busy
            # chat): moved back, it would stay queued after its delivery and leave a second time.
            on_its_way = [chat.queue.popleft()] if chat.busy else []
            chat.queue = deque([*on_its_way, *sorted(chat.queue, key=lambda i: (i.lane, i.id))])
        if not chat.busy:
            head = chat.queue[0]
            heapq.heappush(self._ready, (int(head.lane), head.id, item.effect.to))

    async def refresh(self) -> None:
        """Pick up rows queued since the last look."""
        async with self._refreshing:
            while True:
                batch = await self.store.outgoing_after(self.platform, self._last_id, limit=1000)
                for item in batch:
                    self._add(item)
                if len(batch) < 1000:
                    return

    # --- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            if self._wake.is_set():
                self._wake.clear()
                try:
                    await self.refresh()
                except Exception:
                    log.exception("could not read the outbox")
            moment = time.monotonic()
            if moment - self._tidied > 60:
                self.limiter.forget_idle(moment)
                self._tidied = moment
            while self._delayed and self._delayed[0][0] <= moment:
                _, name = heapq.heappop(self._delayed)
                chat = self._chats.get(name)
                if chat and chat.queue and not chat.busy:
                    head = chat.queue[0]
                    heapq.heappush(self._ready, (int(head.lane), head.id, name))
            if self._ready and len(self._inflight) < self.concurrency:
                again = self._dispatch(moment)
                if again is None:
                    continue
            else:
                again = moment + 0.5 if self._ready else None
            timeout = self._delayed[0][0] - moment if self._delayed else 30.0
            if again is not None:
                timeout = min(timeout, again - moment)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, timeout))

    def _dispatch(self, moment: float) -> float | None:
        """Start the most urgent item that may leave now. Returns when the global window lets the most
        urgent waiting item leave, if that is what holds it back; otherwise None (look again at once)."""
        while self._ready:
            lane, item_id, name = self._ready[0]
            chat = self._chats.get(name)
            if chat is None or chat.busy or not chat.queue or chat.queue[0].id != item_id:
                heapq.heappop(self._ready)  # a stale heap entry
                continue
            free_at = self.limiter.chat_free_at(name, moment)
            if free_at > moment:
                heapq.heappop(self._ready)
                heapq.heappush(self._delayed, (free_at, name))
                continue
            global_at = self.limiter.global_free_at(moment, page=lane <= Lane.PAGE)
            if global_at > moment:
                return global_at  # the rest of the heap is no more urgent
            heapq.heappop(self._ready)
            chat.busy = True
            item = chat.queue[0]
            self.limiter.begin()
            task = asyncio.create_task(self._deliver(name, chat, item))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            break
        return None

    async def _deliver(self, name: str, chat: _Chat, item: Outgoing) -> None:
        keep = False
        try:
            keep = await self._attempt(name, item)
        except Exception:
            log.exception("delivery of item %s failed unexpectedly", item.id)
            keep = True
            self.limiter.hold(name, time.monotonic() + 5)
        finally:
            self.limiter.end(name, time.monotonic())
            chat.busy = False
            if not keep and chat.queue and chat.queue[0].id == item.id:
                chat.queue.popleft()
            elif not keep:
                chat.queue = deque(i for i in chat.queue if i.id != item.id)
            if chat.queue:
                head = chat.queue[0]
                moment = time.monotonic()
                free_at = self.limiter.chat_free_at(name, moment)
                if free_at <= moment:
                    heapq.heappush(self._ready, (int(head.lane), head.id, name))
                else:
                    heapq.heappush(self._delayed, (free_at, name))
            else:
                self._chats.pop(name, None)
                if not self._chats:
                    self._idle.set()
            self._wake.set()

    async def _attempt(self, name: str, item: Outgoing) -> bool:
        """Send one item; return True if it must stay at the head of its chat's queue."""
        if isinstance(item.effect, FetchFile):
            await self._fetch(item, item.effect)
            return False
        prepared = await self._prepare(item)
        if prepared is None:
            await self.store.finish_outgoing(item.id, "skipped", detail="nothing to edit")
            return False
        await self.store.start_sending(item.id)
        result = await self.transport.deliver(prepared)
        if isinstance(result, Delivered):
            self.sent += 1
            card = None
            if isinstance(item.effect, PostCard):
                card = (item.effect.case, CardRef(item.effect.to, result.message, result.thread))
            await self.store.finish_outgoing(item.id, "sent", card=card)
            if self.on_delivered is not None:
                self.on_delivered(item)
            return False
        if isinstance(result, RetryLater):
            self.limiter.hold(name, time.monotonic() + result.seconds)
            await self.store.retry_outgoing(item.id, self.clock.now() + timedelta(seconds=result.seconds))
            return True
        if isinstance(result, Unreachable):
            await self.store.finish_outgoing(item.id, "unreachable", detail=result.reason)
            effect = item.effect
            if isinstance(effect, Send) and effect.person is not None and item.lane <= Lane.PAGE:
                await self.report_failure(
                    DeliveryFailed(effect.to, result.reason, effect.case, effect.person, item.lane), item.key
                )
            return False
        if isinstance(result, Rejected):
            log.warning("item %s was refused by the platform: %s", item.id, result.reason)
            await self.store.finish_outgoing(item.id, "rejected", detail=result.reason)
            return False
        if isinstance(result, Ambiguous):
            if _pages_in_emergency(item) and item.attempts + 1 < MAX_ATTEMPTS:
                log.warning("emergency page %s: ambiguous send, sending again", item.id)
                await self.store.retry_outgoing(item.id, self.clock.now())
                self._replace_head(name, replace(item, attempts=item.attempts + 1))
                return True
            await self.store.finish_outgoing(item.id, "ambiguous", detail=result.reason)
            return False
        assert isinstance(result, Failed)
        if item.attempts + 1 >= MAX_ATTEMPTS:
            await self.store.finish_outgoing(item.id, "failed", detail=result.reason)
            return False
        backoff = min(60.0, 0.5 * 2**item.attempts)
        self.limiter.hold(name, time.monotonic() + backoff)
        await self.store.retry_outgoing(item.id, self.clock.now() + timedelta(seconds=backoff))
        self._replace_head(name, replace(item, attempts=item.attempts + 1))
        return True

    async def _fetch(self, item: Outgoing, effect: FetchFile) -> None:
        """Download a file someone sent and hand it to the service as a fact (or an empty one on failure)."""
        await self.store.start_sending(item.id)
        try:
            data = await self.transport.fetch(effect.ref, FETCH_LIMIT)
            state, detail = "sent", ""
        except Exception as error:  # the service tells the person the file could not be read
            data, state, detail = b"", "failed", type(error).__name__
        if self.report_file is not None:
            await self.report_file(FileFetched(effect.to, effect.purpose, effect.context, data), item.key)
        await self.store.finish_outgoing(item.id, state, detail=detail)

    def _replace_head(self, name: str, item: Outgoing) -> None:
        chat = self._chats.get(name)
        if chat and chat.queue and chat.queue[0].id == item.id:
            chat.queue[0] = item

    async def _prepare(self, item: Outgoing) -> Outgoing | None:
        """Attach the platform references of the case's card (for edits and thread replies)."""
        effect = item.effect
        case = None
        if isinstance(effect, EditCard) or (isinstance(effect, Send) and effect.case is not None and effect.in_thread):
            case = effect.case
        if case is None or isinstance(effect, PostCard | SendFile):
            return item
        card = await self.store.card_of(case, effect.to)
        if card is None:
            return None if isinstance(effect, EditCard) else item
        return replace(item, card_ref=card.message, thread_ref=card.thread)
