"""Inbound mapping for Matrix: recorded event payloads to facts (pure).

The transport records one payload per room event, already decrypted::

    {"room": "!r:server", "private": true, "encrypted_room": true, "decrypted": true,
     "sender_name": "Rita", "event": {"type": …, "sender": …, "event_id": …, "content": {…}}}

and, for a message it could not decrypt even after asking for the keys, ``"undecryptable": true``
with the event's envelope (no content). ``private`` is the transport's judgement: a direct chat of
one person with the bot (not a team room, at most two members).

Rules kept here so that they are tested without a homeserver:

* A plaintext message in an encrypted room is refused (no fact): modern clients never send one, so it
  is forged or broken. Reactions are the exception: matrix-nio sends them unencrypted and they carry
  nothing but an emoji.
* ``m.notice`` is what bots send; answering one could start a loop between bots.
* Commands start with ``!`` (Element intercepts ``/``).
* In group rooms only commands and reactions are worth recording: the team's chatter never reaches
  the inbox (need to know).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from bot.domain.ids import ChatAddress, Identity
from bot.domain.model import Attachment
from bot.messages import (
    AttachmentReceived,
    CommandReceived,
    Fact,
    LocationShared,
    Origin,
    ReactionAdded,
    TextReceived,
    Undecryptable,
    Unsupported,
)

MESSAGE: Final = "m.room.message"
REACTION: Final = "m.reaction"
ENCRYPTED: Final = "m.room.encrypted"
STICKER: Final = "m.sticker"
POLLS: Final = frozenset({"m.poll.start", "org.matrix.msc3381.poll.start"})
#: Event types a person sends that the bot answers or refuses; everything else (state, receipts,
#: calls, redactions…) is not recorded at all.
RECORDED: Final = frozenset({MESSAGE, REACTION, STICKER, *POLLS})

TEXT_TYPES: Final = frozenset({"m.text", "m.emote"})
MEDIA: Final = {"m.image": "photo", "m.file": "file", "m.video": "video", "m.audio": "audio"}
COMMAND: Final = re.compile(r"^!([A-Za-z][\w-]*)(?:\s+(.*))?$", re.DOTALL)
GEO: Final = re.compile(r"^geo:(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted ``> <@someone> …`` block older clients put before a reply's own text."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if line == "":
            if all(previous.startswith(">") for previous in lines[:index]):
                return "\n".join(lines[index + 1 :])
            break
    return body


def command_in(text: str) -> tuple[str, str] | None:
    """``("ack", "K7F-3QX")`` for ``!ack K7F-3QX``; None when the text is not a command."""
    found = COMMAND.match(text.strip())
    if found is None:
        return None
    return found.group(1).lower(), (found.group(2) or "").strip()


def worth_recording(payload: Mapping[str, Any]) -> bool:
    """Whether the transport should put this payload in the inbox at all."""
    if payload.get("undecryptable"):
        return bool(payload.get("private"))
    event = _dict(payload.get("event"))
    kind = event.get("type")
    if kind not in RECORDED:
        return False
    if payload.get("private"):
        return True
    if kind == REACTION:
        return True
    content = _dict(event.get("content"))
    if _dict(content.get("m.relates_to")).get("rel_type") == "m.replace":
        return False
    return kind == MESSAGE and command_in(strip_reply_fallback(_str(content.get("body")))) is not None


def origin(payload: Mapping[str, Any]) -> Origin:
    event = _dict(payload.get("event"))
    relates = _dict(_dict(event.get("content")).get("m.relates_to"))
    thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
    reply_to = _dict(relates.get("m.in_reply_to")).get("event_id")
    return Origin(
        chat=ChatAddress(f"matrix:{payload['room']}"),
        sender=Identity(f"matrix:{event['sender']}"),
        private=bool(payload.get("private")),
        thread=thread if isinstance(thread, str) else None,
        reply_to=reply_to if isinstance(reply_to, str) else None,
        language_hint=None,  # Matrix does not tell; the core asks once
        sender_name=_str(payload.get("sender_name")),
    )


def to_facts(payload: Mapping[str, Any]) -> list[Fact]:
    event = _dict(payload.get("event"))
    if not isinstance(payload.get("room"), str) or not isinstance(event.get("sender"), str):
        return []
    where = origin(payload)
    if payload.get("undecryptable"):
        return [Undecryptable(where)]
    kind = event.get("type")
    content = _dict(event.get("content"))
    if kind == REACTION:
        relates = _dict(content.get("m.relates_to"))
        target, key = relates.get("event_id"), relates.get("key")
        if relates.get("rel_type") != "m.annotation" or not isinstance(target, str) or not isinstance(key, str):
            return []
        return [ReactionAdded(where, target, key)]
    if payload.get("encrypted_room") and not payload.get("decrypted"):
        return []  # plaintext in an encrypted room: refused
    if kind == STICKER:
        return [Unsupported(where, "sticker")]
    if kind != MESSAGE:
        return [Unsupported(where, _str(kind) or "event")]
    relates = _dict(content.get("m.relates_to"))
    if relates.get("rel_type") == "m.replace":
        new = _dict(content.get("m.new_content"))
        if new.get("msgtype") in TEXT_TYPES and isinstance(new.get("body"), str):
            return [TextReceived(where, new["body"], edited=True)]
        return []
    msgtype = content.get("msgtype")
    body = _str(content.get("body"))
    if msgtype in TEXT_TYPES:
        text = strip_reply_fallback(body)
        command = command_in(text)
        if command is not None:
            return [CommandReceived(where, *command)]
        return [TextReceived(where, text)]
    if msgtype == "m.notice":
        return []
    if msgtype == "m.location":
        found = GEO.match(_str(content.get("geo_uri")))
        if found is None:
            return [Unsupported(where, "location")]
        return [LocationShared(where, float(found.group(1)), float(found.group(2)))]
    if isinstance(msgtype, str) and msgtype in MEDIA:
        return [AttachmentReceived(where, *_attachment(msgtype, content))]
    return [Unsupported(where, _str(msgtype) or "message")]


def _attachment(msgtype: str, content: Mapping[str, Any]) -> tuple[Attachment, str]:
    """The file and its caption. An encrypted file's reference carries its key (sealed at rest)."""
    info = _dict(content.get("info"))
    encrypted = content.get("file")
    ref = json.dumps(encrypted, sort_keys=True) if isinstance(encrypted, Mapping) else _str(content.get("url"))
    body = _str(content.get("body"))
    filename = _str(content.get("filename"))
    caption = body if filename and body != filename else ""
    size = info.get("size")
    attachment = Attachment(
        MEDIA[msgtype],
        ref,
        filename or body,
        size if isinstance(size, int) and size >= 0 else 0,
        _str(info.get("mimetype")),
    )
    return attachment, caption
