"""The domain model: cases, their states and history, people and spaces.

Everything here is an immutable value; changes are made with :func:`dataclasses.replace` by pure
functions, and the service persists the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from bot.domain.ids import CaseId, CaseRef, ChatAddress, Identity, Pseudonym, SpaceId


class Category(StrEnum):
    HARASSMENT = "harassment"
    HOSTILE = "hostile"
    BANNED_PERSON = "banned-person"
    ASSAULT = "assault"
    MEDICAL = "medical"
    DOXING = "doxing"
    OTHER = "other"


#: Categories that take the fast track when the reporter says it is happening now (SPEC 4.3).
FAST_TRACK_CATEGORIES = frozenset({Category.ASSAULT, Category.MEDICAL})
#: Categories that are raised to high urgency even outside the fast track, and bring a self-care note.
SERIOUS = frozenset({Category.ASSAULT, Category.MEDICAL})


class Role(StrEnum):
    AFFECTED = "affected"
    WITNESS = "witness"
    ON_BEHALF = "on-behalf"
    UNKNOWN = "unknown"


class Urgency(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    EMERGENCY = "emergency"


class Source(StrEnum):
    GUIDED = "guided"
    QUICK = "quick"
    EMERGENCY = "emergency"
    CODE_WORD = "code-word"
    VERBAL = "verbal"


class Contact(StrEnum):
    """May the team contact the reporter, and may it see their name."""

    ANONYMOUS = "anonymous"
    NAMED = "named"
    NONE = "none"


class Whom(StrEnum):
    ANYONE = "anyone"
    SPECIFIC = "specific"
    EXCEPT = "except"


class CaseState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"

    @property
    def is_open(self) -> bool:
        return self not in (CaseState.RESOLVED, CaseState.WITHDRAWN)


class Outcome(StrEnum):
    ACTION_TAKEN = "action-taken"
    NO_ACTION = "no-action"
    INVALID = "invalid"
    REFERRED = "referred"
    DUPLICATE = "duplicate"


class Lane(IntEnum):
    """Outbox priority lanes: a lower value always leaves first (SPEC 7)."""

    EMERGENCY = 0
    PAGE = 1
    CONVERSATION = 2
    BULK = 3


@dataclass(frozen=True, slots=True)
class Person:
    """A responder or coordinator. ``key`` is the first identity and names the person everywhere."""

    identities: tuple[Identity, ...]
    name: str
    languages: tuple[str, ...] = ("en",)

    @property
    def key(self) -> Identity:
        return self.identities[0]

    def has(self, identity: str) -> bool:
        return identity in self.identities


@dataclass(frozen=True, slots=True)
class Attachment:
    """A photo, file or location the reporter sent; ``ref`` is the platform's file handle."""

    kind: str
    ref: str
    name: str = ""
    size: int = 0
    mime: str = ""


@dataclass(frozen=True, slots=True)
class CaseContent:
    """What the reporter told us. Sealed at rest; never shown in the team room."""

    when_where: str = ""
    involved: str = ""
    details: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    location: str = ""
    excluded: tuple[Identity, ...] = ()
    chosen: Identity | None = None
    reporter_name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "when_where": self.when_where,
            "involved": self.involved,
            "details": list(self.details),
            "attachments": [[a.kind, a.ref, a.name, a.size, a.mime] for a in self.attachments],
            "location": self.location,
            "excluded": list(self.excluded),
            "chosen": self.chosen,
            "reporter_name": self.reporter_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseContent:
        return cls(
            when_where=data.get("when_where", ""),
            involved=data.get("involved", ""),
            details=tuple(data.get("details", ())),
            attachments=tuple(Attachment(*a) for a in data.get("attachments", ())),
            location=data.get("location", ""),
            excluded=tuple(Identity(i) for i in data.get("excluded", ())),
            chosen=Identity(data["chosen"]) if data.get("chosen") else None,
            reporter_name=data.get("reporter_name", ""),
        )


@dataclass(frozen=True, slots=True)
class Case:
    id: CaseId | None
    ref: CaseRef
    space: SpaceId
    state: CaseState
    urgency: Urgency
    category: Category
    role: Role
    source: Source
    language: str
    reporter: Pseudonym | None
    contact: Contact
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: Identity | None = None
    assignees: tuple[Identity, ...] = ()
    outcome: Outcome | None = None
    resolved_at: datetime | None = None
    signed_off: bool | None = None
    linked_ban: int | None = None
    content: CaseContent | None = field(default=None, compare=False)

    @property
    def is_open(self) -> bool:
        return self.state.is_open

    def with_state(self, state: CaseState, now: datetime) -> Case:
        return replace(self, state=state, updated_at=now)


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One entry of a case's append-only history. ``detail`` never holds report text."""

    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CaseMessage:
    """A follow-up from the reporter, a reply from the team, or an internal note (sealed at rest)."""

    at: datetime
    author: str
    kind: str  # "reporter" | "team" | "note" | "location" | "attachment"
    body: str


@dataclass(frozen=True, slots=True)
class Reporter:
    """The link from a pseudonym to a chat. The chat and identity are sealed at rest."""

    space: SpaceId
    pseudonym: Pseudonym
    chat: ChatAddress | None
    identity: Identity | None
    language: str
    blocked: bool = False
