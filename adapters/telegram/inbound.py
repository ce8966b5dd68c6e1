"""Inbound mapping for Telegram: one recorded Bot API ``Update`` (JSON) to facts. Pure.

What becomes what:

* a text starting with a command (``/name``, ``/name@bot args``) → :class:`CommandReceived`, unless it
  names another bot; other texts → :class:`TextReceived`
* an edited text in a private chat → ``TextReceived(edited=True)`` (the conversation decides); edits
  in groups, edited captions and live-location updates → nothing
* photos, documents, videos, voice and audio → :class:`AttachmentReceived` (``ref`` is the file_id)
* a location or venue → :class:`LocationShared`
* stickers, polls, dice, contacts, games → :class:`Unsupported`; service messages → nothing
* a button press → :class:`ChoicePicked` if its data was signed for that chat, else :class:`ButtonRejected`

The core decides who may do what, and answers; this module only translates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from adapters.telegram import buttons
from bot.domain.ids import ChatAddress, Identity
from bot.domain.model import Attachment
from bot.messages import (
    AttachmentReceived,
    ButtonRejected,
    ChatFact,
    ChoicePicked,
    CommandReceived,
    LocationShared,
    Origin,
    TextReceived,
    Unsupported,
)

#: What the bot asks getUpdates for.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
#: A Telegram bot command: up to 32 letters, digits and underscores, optionally ``@botname``.
COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.DOTALL)
#: Message fields that carry a file, most specific first (an animation also has a ``document``).
ATTACHMENTS = ("photo", "animation", "video", "video_note", "voice", "audio", "document")
UNSUPPORTED = ("sticker", "poll", "dice", "contact", "game", "story", "paid_media", "invoice")
GROUPS = ("group", "supergroup")


def to_facts(update: Mapping[str, Any], secret: bytes, username: str | None = None) -> list[ChatFact]:
    """The facts in one update. ``username`` is the bot's (commands for other bots are ignored when
    it is known); ``secret`` verifies button data. Malformed updates give no facts."""
    try:
        if "callback_query" in update:
            return _callback(update["callback_query"], secret)
        if "message" in update:
            return _message(update["message"], username, edited=False)
        if "edited_message" in update:
            return _message(update["edited_message"], username, edited=True)
    except (KeyError, TypeError, ValueError, AttributeError):
        return []
    return []


def address(native: object) -> str:
    return f"telegram:{int(str(native))}"


def _name(who: Mapping[str, Any]) -> str:
    parts = (who.get("first_name"), who.get("last_name")) if "first_name" in who else (who.get("title"),)
    return " ".join(str(p) for p in parts if p)


def _origin(chat: Mapping[str, Any], user: Mapping[str, Any], message: Mapping[str, Any]) -> Origin:
    private = chat.get("type") == "private"
    thread = message.get("message_thread_id")
    reply = message.get("reply_to_message")
    language = user.get("language_code")
    return Origin(
        chat=ChatAddress(address(chat["id"])),
        sender=Identity(address(user["id"])),
        private=private,
        thread=str(thread) if thread and not private else None,
        reply_to=str(reply["message_id"]) if isinstance(reply, Mapping) and "message_id" in reply else None,
        language_hint=language if isinstance(language, str) and language else None,
        sender_name=_name(user),
    )


def _message(message: Mapping[str, Any], username: str | None, *, edited: bool) -> list[ChatFact]:
    chat = message["chat"]
    if chat.get("type") not in ("private", *GROUPS):
        return []  # channels
    sender = message.get("sender_chat") or message.get("from")
    if not isinstance(sender, Mapping) or (sender.get("is_bot") and "sender_chat" not in message):
        return []  # other bots, and messages without an author
    where = _origin(chat, sender, message)
    text = message.get("text")
    if isinstance(text, str):
        if edited:
            return [TextReceived(where, text, edited=True)] if where.private else []
        command = COMMAND.match(text)
        if command is None:
            return [TextReceived(where, text)]
        name, target, args = command.groups()
        if target and username and target.lower() != username.lower():
            return []  # a command for another bot in the same group
        return [CommandReceived(where, name.lower(), (args or "").strip())]
    if edited:
        return []
    location = message.get("location")
    if isinstance(location, Mapping):
        return [LocationShared(where, float(location["latitude"]), float(location["longitude"]))]
    caption = message.get("caption")
    for kind in ATTACHMENTS:
        if kind in message:
            attachment = _attachment(kind, message[kind])
            return [AttachmentReceived(where, attachment, caption if isinstance(caption, str) else "")]
    for kind in UNSUPPORTED:
        if kind in message:
            return [Unsupported(where, kind)]
    return []  # service messages: members joining, topics created, pins ...


def _attachment(kind: str, data: Any) -> Attachment:
    if kind == "photo":  # the sizes of one photo, smallest first: keep the largest
        data = max(data, key=lambda size: (size.get("file_size") or 0, size.get("width", 0) * size.get("height", 0)))
    mime = data.get("mime_type") or ("image/jpeg" if kind == "photo" else "")
    return Attachment(
        kind, str(data["file_id"]), str(data.get("file_name") or ""), int(data.get("file_size") or 0), mime
    )


def _callback(query: Mapping[str, Any], secret: bytes) -> list[ChatFact]:
    message = query.get("message")
    if not isinstance(message, Mapping) or not isinstance(message.get("chat"), Mapping):
        return []  # a button of an inline-mode message: not ours
    chat = message["chat"]
    if chat.get("type") not in ("private", *GROUPS):
        return []
    where = _origin(chat, query["from"], message)
    data = query.get("data")
    verified = buttons.verify(secret, str(chat["id"]), data) if isinstance(data, str) else None
    if verified is None:
        return [ButtonRejected(where, "forged, altered or from another chat")]
    key, question = verified
    return [ChoicePicked(where, key, question, str(message.get("message_id", "")) or None)]
