"""The ports: what the core needs from the outside world, as Protocols.

Concrete classes are named only in :mod:`bot.bootstrap`. Each port has one contract test suite in
``tests/contract`` that every implementation passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.domain.ids import CaseId, CaseRef, ChatAddress, Identity, Platform, Pseudonym, SpaceId
from bot.domain.model import Case, CaseEvent, CaseMessage, Lane, Reporter
from bot.i18n import Renderable
from bot.messages import DeliveryResult, Effect, Outgoing


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class Translator(Protocol):
    @property
    def languages(self) -> tuple[str, ...]: ...

    def render(self, text: Renderable, language: str) -> str: ...

    def negotiate(self, requested: str | None, default: str = "en") -> str: ...

    def language_name(self, language: str) -> str: ...


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Outbound limits of one platform (SPEC 7). ``None`` means unlimited."""

    global_per_second: float | None = 30.0
    private_per_second: float | None = 1.0
    group_per_minute: float | None = 20.0
    max_text: int = 4096


class InboundSink(Protocol):
    """Where an adapter records what it received, before confirming it to the platform."""

    async def record(
        self,
        source: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        cursor: tuple[str, str] | None = None,
    ) -> int:
        """Record ``(external_id, payload)`` items, ignoring ids already seen, and save ``cursor``
        (a name and value such as the sync token) in the same transaction. Returns how many were new.
        """
        ...

    async def recall(self, name: str) -> str | None:
        """A value previously saved as a cursor or with :meth:`remember`."""
        ...

    async def remember(self, name: str, value: str) -> None: ...


class Transport(Protocol):
    """One chat platform: receives into an :class:`InboundSink`, delivers one outgoing item at a time."""

    platform: Platform
    limits: RateLimits
    #: When the platform last answered a poll or sync (health checks use it); None before the first.
    last_contact: datetime | None

    async def start(self, sink: InboundSink) -> None: ...

    async def stop(self) -> None: ...

    async def deliver(self, item: Outgoing) -> DeliveryResult: ...

    async def fetch(self, ref: str, limit: int) -> bytes:
        """Download a file someone sent, at most ``limit`` bytes; raise ValueError if it is larger."""
        ...

    def is_group(self, chat: ChatAddress) -> bool:
        """Whether a chat is a group (group rate limits apply) rather than a private chat."""
        ...


@dataclass(slots=True)
class StoredConversation:
    """A reporter's (or responder's) private conversation: language, space and the flow's state."""

    chat: ChatAddress
    language: str | None = None
    space: SpaceId | None = None
    state: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    reminded: bool = False
    has_draft: bool = False


@dataclass(frozen=True, slots=True)
class InboundRow:
    id: int
    source: str
    external_id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Timer:
    id: int
    kind: str
    due: datetime
    case: CaseId | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CardRef:
    room: ChatAddress
    message: str | None
    thread: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """A value a coordinator changed with a command; it wins over the file unless the file changed later."""

    key: str
    value: Any
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True, slots=True)
class Ban:
    id: int
    space: SpaceId
    label: str
    reason: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    removed_at: datetime | None = None

    def active(self, at: datetime) -> bool:
        return self.removed_at is None and (self.expires_at is None or self.expires_at > at)


@dataclass(frozen=True, slots=True)
class Code:
    """A one-time code (an invite to the team, or a sign-off link for a verbal report)."""

    kind: str
    space: SpaceId
    data: Mapping[str, Any]
    created_by: str
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    subject: str
    detail: str


class Tx(Protocol):
    """One unit of work. Everything done through it commits together or not at all."""

    # conversations
    async def conversation(self, chat: ChatAddress) -> StoredConversation | None: ...
    async def prefetch_conversations(self, chats: Iterable[ChatAddress]) -> None:
        """Read ahead the conversations a batch of updates will need (an optimisation: reads stay exact)."""
        ...

    async def save_conversation(self, conversation: StoredConversation) -> None: ...
    async def delete_conversation(self, chat: ChatAddress) -> None: ...
    async def idle_drafts(self, idle_since: datetime, limit: int = 100) -> list[StoredConversation]: ...

    # reporters
    async def reporter_by_identity(self, space: SpaceId, identity: Identity) -> Reporter | None: ...
    async def reporter(self, space: SpaceId, pseudonym: Pseudonym) -> Reporter | None: ...
    async def save_reporter(self, reporter: Reporter) -> None: ...
    async def unlink_reporter(self, space: SpaceId, pseudonym: Pseudonym) -> None:
        """Destroy the link from a pseudonym to a chat and identity (``forget``)."""
        ...

    # cases
    async def reference_taken(self, ref: CaseRef) -> bool: ...
    async def add_case(self, case: Case) -> Case: ...
    async def save_case(self, case: Case) -> None: ...
    async def case(self, ref: CaseRef) -> Case | None: ...
    async def case_by_id(self, case_id: CaseId) -> Case | None: ...
    async def cases(
        self,
        *,
        space: SpaceId | None = None,
        reporter: Pseudonym | None = None,
        open_only: bool = False,
        limit: int | None = None,
    ) -> list[Case]:
        """Cases oldest first, without their content."""
        ...

    async def destroy_case_content(self, case_id: CaseId) -> None:
        """Erase by destroying the case's key: content, messages and attachments become unreadable."""
        ...

    async def purgeable_cases(self, space: SpaceId, closed_before: datetime) -> list[Case]: ...

    async def add_event(self, case_id: CaseId, event: CaseEvent) -> None: ...
    async def events(self, case_id: CaseId) -> list[CaseEvent]: ...
    async def add_message(self, case_id: CaseId, message: CaseMessage) -> None: ...
    async def messages(self, case_id: CaseId) -> list[CaseMessage]: ...

    # team-room cards
    async def card(self, case: CaseRef, room: ChatAddress) -> CardRef | None: ...
    async def save_card(self, case: CaseRef, card: CardRef) -> None: ...
    async def case_for_message(self, room: ChatAddress, message: str) -> CaseRef | None: ...
    async def case_for_thread(self, room: ChatAddress, thread: str) -> CaseRef | None: ...

    # outbox
    async def enqueue(self, key: str, lane: Lane, effect: Effect, *, not_before: datetime | None = None) -> None:
        """Queue an effect once per idempotency ``key`` (a key queued before is ignored); it becomes
        visible to the senders when the transaction commits."""
        ...

    # timers (the database is the source of truth; a scheduler only wakes the process)
    async def add_timer(
        self, kind: str, due: datetime, *, case: CaseId | None = None, data: Mapping[str, Any] | None = None
    ) -> int: ...
    async def due_timers(self, now: datetime, limit: int = 500) -> list[Timer]: ...
    async def finish_timer(self, timer_id: int, fired_at: datetime) -> None: ...
    async def cancel_timers(self, case: CaseId, kinds: Sequence[str] | None = None) -> int: ...
    async def timers(self, case: CaseId) -> list[Timer]: ...
    async def pending_timers(self, kind: str) -> list[Timer]: ...

    # coordinator changes, bans, one-time codes
    async def changes(self, space: SpaceId) -> dict[str, Change]: ...
    async def save_change(self, space: SpaceId, change: Change) -> None: ...
    async def forget_change(self, space: SpaceId, key: str) -> None: ...
    async def file_value_seen(self, space: SpaceId, key: str, digest: str, now: datetime) -> datetime:
        """When the configuration file's value for ``key`` was first seen as it is now."""
        ...

    async def add_ban(
        self, space: SpaceId, label: str, reason: str, by: str, at: datetime, expires_at: datetime | None
    ) -> int: ...
    async def bans(self, space: SpaceId) -> list[Ban]: ...
    async def remove_ban(self, space: SpaceId, ban_id: int, at: datetime) -> bool: ...
    async def bans_matching(self, space: SpaceId, text: str, at: datetime) -> list[Ban]:
        """Active bans whose name appears in ``text`` (compared through keyed hashes)."""
        ...

    async def index_people(self, space: SpaceId, case_id: int, text: str) -> None: ...
    async def related_cases(self, space: SpaceId, case_id: int) -> list[str]: ...
    async def add_code(self, code: str, value: Code, at: datetime) -> None: ...
    async def use_code(self, code: str, by: str, at: datetime) -> Code | None:
        """Consume a one-time code; None if it is unknown, used or expired."""
        ...

    # audit trail and settings
    async def audit_entries(self, space: SpaceId, subject: str | None = None, limit: int = 30) -> list[AuditEntry]: ...
    async def audit(
        self, at: datetime, space: SpaceId | str, actor: str, action: str, subject: str = "", detail: str = ""
    ) -> None:
        """Append to the space's audit trail (hash-chained; never edited)."""
        ...

    async def setting(self, name: str) -> str | None: ...
    async def set_setting(self, name: str, value: str | None) -> None: ...


class Store(Protocol):
    """Durable state. One writer at a time; every ``transaction()`` is atomic."""

    async def open(self) -> None:
        """Connect and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    # inbox: written by adapters (through InboundSink), read by the inbox processor
    async def record_inbound(
        self,
        source: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        cursor: tuple[str, str] | None = None,
    ) -> int: ...
    async def pending_inbound(self, limit: int = 100) -> list[InboundRow]: ...
    async def stamp_applied(self, tx: Tx, row_ids: Sequence[int]) -> None: ...
    async def claim_inbound(self, tx: Tx, row_ids: Sequence[int]) -> set[int]:
        """Mark rows processed in the caller's transaction; the ids not processed before."""
        ...

    # outbox: read and updated by the sender
    async def due_outgoing(self, platform: Platform, now: datetime, limit: int = 100) -> list[Outgoing]: ...
    async def start_sending(self, item_id: int) -> None: ...
    async def outgoing_after(self, platform: Platform, after: int, limit: int = 1000) -> list[Outgoing]: ...
    async def finish_outgoing(
        self, item_id: int, state: str, *, detail: str = "", card: tuple[CaseRef, CardRef] | None = None
    ) -> None: ...
    async def retry_outgoing(self, item_id: int, at: datetime) -> None: ...
    async def interrupted_outgoing(self) -> list[Outgoing]:
        """Items that were being sent when the process stopped: their fate is unknown."""
        ...

    async def next_outgoing_at(self, platform: Platform) -> datetime | None: ...
    async def next_timer_at(self) -> datetime | None: ...


class Scheduler(Protocol):
    """Wakes the process at a given time. Timers themselves live in the store."""

    def wake_at(self, when: datetime) -> None: ...
