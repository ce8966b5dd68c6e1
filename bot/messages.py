"""The neutral vocabulary between platforms and the core.

Inbound *facts* say what happened, in the past tense. Outbound *effects* say what to do, as
imperatives. Adapters translate platform payloads into facts and effects into platform calls; the
core never sees a platform object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.ids import CaseRef, ChatAddress, Identity
from bot.domain.model import Attachment, Lane

# --- inbound facts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """Who wrote, in which chat. ``thread`` and ``reply_to`` are platform message references."""

    chat: ChatAddress
    sender: Identity
    private: bool = True
    thread: str | None = None
    reply_to: str | None = None
    language_hint: str | None = None
    sender_name: str = ""


@dataclass(frozen=True, slots=True)
class TextReceived:
    origin: Origin
    text: str
    edited: bool = False


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """``/name args`` on Telegram, ``!name args`` on Matrix."""

    origin: Origin
    name: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class ChoicePicked:
    """A button pressed, already verified by the adapter. ``question`` binds it to one question."""

    origin: Origin
    key: str
    question: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ButtonRejected:
    """Button data that failed verification: forged, from another chat, or unreadable."""

    origin: Origin
    reason: str


@dataclass(frozen=True, slots=True)
class LocationShared:
    origin: Origin
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class AttachmentReceived:
    origin: Origin
    attachment: Attachment
    caption: str = ""


@dataclass(frozen=True, slots=True)
class ReactionAdded:
    """A reaction (e.g. ✅) on a message the bot sent, identified by the platform's message ref."""

    origin: Origin
    message: str
    emoji: str


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Something the bot cannot use (a sticker, a poll, a voice call)."""

    origin: Origin
    what: str


@dataclass(frozen=True, slots=True)
class Undecryptable:
    """A message the bot could not decrypt, even after asking for the keys."""

    origin: Origin


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    """The outbox gave up on a message: the person cannot be reached (e.g. never started the bot)."""

    to: ChatAddress
    reason: str
    case: CaseRef | None = None
    person: Identity | None = None
    lane: Lane = Lane.CONVERSATION


ChatFact = (
    TextReceived
    | CommandReceived
    | ChoicePicked
    | ButtonRejected
    | LocationShared
    | AttachmentReceived
    | ReactionAdded
    | Unsupported
    | Undecryptable
)


@dataclass(frozen=True, slots=True)
class FileFetched:
    """A file the bot was asked to read (``FetchFile``) has been downloaded; ``data`` is its content,
    empty if it could not be fetched."""

    chat: ChatAddress
    purpose: str
    context: dict[str, str]
    data: bytes = field(repr=False)


Fact = ChatFact | DeliveryFailed | FileFetched

# --- outbound effects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    key: str
    emergency: bool = False


@dataclass(frozen=True, slots=True)
class Send:
    """Send a text to a chat or a person (a person's private chat is resolved by the adapter).

    ``buttons`` are rows of buttons; platforms without buttons render them as a numbered list.
    ``question`` binds the buttons to one question so that old buttons are recognised.
    ``case`` with ``in_thread`` posts into that case's thread or topic in a team room.
    ``mentions`` are people to mention (notify) in a group chat.
    """

    to: ChatAddress
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    question: int | None = None
    case: CaseRef | None = None
    in_thread: bool = False
    mentions: tuple[Identity, ...] = ()
    person: Identity | None = None


@dataclass(frozen=True, slots=True)
class PostCard:
    """Announce a case in a team room (opens its thread or forum topic where the platform has one)."""

    to: ChatAddress
    case: CaseRef
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True)
class EditCard:
    """Update a case's card in place."""

    to: ChatAddress
    case: CaseRef
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class SendFile:
    to: ChatAddress
    name: str
    mime: str
    data: bytes = field(repr=False)
    caption: str = ""


@dataclass(frozen=True, slots=True)
class FetchFile:
    """Download a file someone sent (``ref`` is the platform's handle), then report it as
    :class:`FileFetched`. Downloading is I/O, so it happens in the sender, not in the service."""

    to: ChatAddress
    ref: str
    purpose: str
    context: dict[str, str] = field(default_factory=dict)


Effect = Send | PostCard | EditCard | SendFile | FetchFile


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An effect on its way out: the outbox row's view of it."""

    id: int
    key: str
    lane: Lane
    effect: Effect
    attempts: int = 0
    card_ref: str | None = None
    thread_ref: str | None = None
    #: When the effect was queued (page latency is measured from here).
    queued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A successful send; ``message`` identifies it on the platform (kept for cards and threads)."""

    message: str | None = None
    thread: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Rate-limited (e.g. HTTP 429): try this chat again after ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Unreachable:
    """Permanent failure for this recipient (blocked, never started the bot, not a member)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The platform refused this message for good (e.g. malformed): sending it again cannot help."""

    reason: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The request left but no answer came back: it may or may not have been delivered."""

    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure worth retrying later (network down, server error)."""

    reason: str


DeliveryResult = Delivered | RetryLater | Unreachable | Rejected | Ambiguous | Failed
