"""An in-process transport that records what was sent: a real fake for tests and the walkthrough.

Addresses look like ``memory:alice`` (a person and their private chat) and ``memory:!team`` (a group).
Tests drive it from the people's side (:meth:`MemoryTransport.say`, :meth:`press` ...) and read
what the bot sent (:meth:`messages`). Failures are injected per address.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.ids import ChatAddress, Platform
from bot.messages import (
    Ambiguous,
    Button,
    Delivered,
    DeliveryResult,
    EditCard,
    Outgoing,
    PostCard,
    Send,
    SendFile,
    Unreachable,
)
from bot.ports import InboundSink, RateLimits


@dataclass(slots=True)
class Sent:
    """One message as a person would see it: edits change ``text`` and keep the history."""

    id: str
    to: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    kind: str = "send"
    case: str | None = None
    thread: str | None = None
    mentions: tuple[str, ...] = ()
    question: int | None = None
    lane: int = 2
    edits: list[str] = field(default_factory=list)
    data: bytes = b""
    name: str = ""

    @property
    def keys(self) -> list[str]:
        return [b.key for row in self.buttons for b in row]

    @property
    def labels(self) -> list[str]:
        return [b.label for row in self.buttons for b in row]


class MemoryTransport:
    platform: Platform = Platform("memory")

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits(None, None, None, max_text=4096)
        self.sent: list[Sent] = []
        self.cards: dict[tuple[str, str], Sent] = {}
        self.unreachable: dict[str, str] = {}
        #: Files people sent, by reference (what :meth:`fetch` downloads).
        self.uploads: dict[str, bytes] = {}
        self.scripted: deque[DeliveryResult] = deque()
        self.sink: InboundSink | None = None
        self.last_contact: datetime | None = None
        self.on_record: Callable[[], None] | None = None
        self._ids = itertools.count(1)
        self._updates = itertools.count(1)
        self._session = uuid.uuid4().hex[:12]  # update ids never repeat, as on a real platform
        self._changed = asyncio.Condition()

    # --- the Transport port ------------------------------------------------------------------

    async def start(self, sink: InboundSink) -> None:
        self.sink = sink
        self.last_contact = datetime.now(UTC)

    async def stop(self) -> None:
        self.sink = None

    def is_group(self, chat: ChatAddress) -> bool:
        return chat.startswith("memory:!")

    async def fetch(self, ref: str, limit: int) -> bytes:
        data = self.uploads.get(ref)
        if data is None:
            raise ValueError("no such file")
        if len(data) > limit:
            raise ValueError("the file is too large")
        return data

    async def deliver(self, item: Outgoing) -> DeliveryResult:
        effect = item.effect
        if self.scripted:
            result = self.scripted.popleft()
            if isinstance(result, Ambiguous):
                await self._record(item)  # it did arrive, but nobody told us
            return result
        if effect.to in self.unreachable:
            return Unreachable(self.unreachable[effect.to])
        return await self._record(item)

    async def _record(self, item: Outgoing) -> Delivered:
        effect = item.effect
        message_id = str(next(self._ids))
        if isinstance(effect, EditCard):
            card = self.cards.get((effect.to, effect.case))
            if card is not None:
                card.edits.append(card.text)
                card.text = effect.text
                card.buttons = effect.buttons
            await self._notify()
            return Delivered(card.id if card else None, card.thread if card else None)
        if isinstance(effect, PostCard):
            sent = Sent(
                message_id,
                effect.to,
                effect.text,
                effect.buttons,
                "card",
                effect.case,
                f"t{message_id}",
                lane=item.lane,
            )
            self.cards[(effect.to, effect.case)] = sent
        elif isinstance(effect, SendFile):
            sent = Sent(
                message_id,
                effect.to,
                effect.caption or effect.name,
                kind="file",
                lane=item.lane,
                data=effect.data,
                name=effect.name,
            )
        else:
            assert isinstance(effect, Send)
            sent = Sent(
                message_id,
                effect.to,
                effect.text,
                effect.buttons,
                "send",
                effect.case,
                item.thread_ref if effect.in_thread else None,
                effect.mentions,
                effect.question,
                item.lane,
            )
        self.sent.append(sent)
        await self._notify()
        return Delivered(sent.id, sent.thread)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- the people's side -------------------------------------------------------------------

    async def receive(self, payload: dict[str, Any]) -> None:
        """Record an update from a person, as a platform adapter would."""
        assert self.sink is not None, "transport not started"
        await self.sink.record("memory", [(f"{self._session}-{next(self._updates)}", payload)])
        if self.on_record:
            self.on_record()

    async def say(self, who: str, text: str, *, chat: str | None = None, lang: str | None = "en", **extra: Any) -> None:
        await self.receive(
            {
                "kind": "text",
                "chat": chat or who,
                "sender": who,
                "private": chat is None or chat == who,
                "text": text,
                "lang": lang,
                **extra,
            }
        )

    async def press(
        self, who: str, key: str, *, question: int | None = None, chat: str | None = None, lang: str | None = "en"
    ) -> None:
        await self.receive(
            {
                "kind": "choice",
                "chat": chat or who,
                "sender": who,
                "private": chat is None or chat == who,
                "key": key,
                "question": question,
                "lang": lang,
            }
        )

    async def answer(self, who: str, label_or_key: str, *, lang: str | None = "en") -> None:
        """Press a button of the last question sent to ``who``, by its key or its label."""
        last = self.last_question(who)
        assert last is not None, f"no question was sent to {who}"
        for row in last.buttons:
            for button in row:
                if label_or_key in (button.key, button.label):
                    await self.press(who, button.key, question=last.question, lang=lang)
                    return
        raise AssertionError(f"no button {label_or_key!r} in {last.labels}")

    # --- reading -----------------------------------------------------------------------------

    def messages(self, to: str) -> list[Sent]:
        return [m for m in self.sent if m.to == to]

    def texts(self, to: str) -> list[str]:
        """Text messages to ``to`` (files are listed by :meth:`messages`)."""
        return [m.text for m in self.messages(to) if m.kind != "file"]

    def last(self, to: str) -> Sent | None:
        found = self.messages(to)
        return found[-1] if found else None

    def last_question(self, to: str) -> Sent | None:
        for message in reversed(self.messages(to)):
            if message.buttons and message.question is not None:
                return message
        return None

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)
