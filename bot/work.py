"""One unit of work: the transaction, the time, and the idempotency keys of what it queues."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.ids import CaseId, CaseRef, Platform, platform_of
from bot.domain.model import Lane
from bot.domain.reference import new_reference
from bot.messages import Effect
from bot.ports import Tx


@dataclass(slots=True)
class Work:
    """Everything one inbound fact or one timer does, committed together.

    Outbox keys are ``<cause>:<n>``: the cause (an inbox row or a timer) can only be processed once,
    so a crash and a replay can never queue the same message twice.
    """

    tx: Tx
    now: datetime
    cause: str
    seq: int = 0
    wake: datetime | None = None
    platforms: set[Platform] = field(default_factory=set)
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def key(self) -> str:
        self.seq += 1
        return f"{self.cause}:{self.seq}"

    async def send(self, effect: Effect, lane: Lane = Lane.CONVERSATION) -> None:
        await self.tx.enqueue(self.key(), lane, effect)
        self.platforms.add(platform_of(effect.to))

    async def timer(
        self, kind: str, due: datetime, *, case: CaseId | None = None, data: Mapping[str, Any] | None = None
    ) -> int:
        timer_id = await self.tx.add_timer(kind, due, case=case, data=data)
        if self.wake is None or due < self.wake:
            self.wake = due
        return timer_id

    async def new_reference(self) -> CaseRef:
        """A case reference that no case has yet."""
        ref = new_reference()
        while await self.tx.reference_taken(ref):
            ref = new_reference()
        return ref
