"""Outbound rendering for Matrix: effects to event contents (pure).

* Choices become a numbered list under the text, in the order of the flattened rows; the core
  understands a typed number or the option's text. :func:`read_choices` is the inverse (used by the
  walkthrough and the tests to answer like a person would).
* Card actions (``ack:REF``, ``claim:REF``, ``join:REF``) become a hint line with the commands; on a
  card, a ✅ reaction acknowledges too (shown as ``+✅``).
* In-thread messages carry an ``m.thread`` relation to the card (the thread root); card updates are
  ``m.replace`` edits. nio copies ``m.relates_to`` to the unencrypted part of the event, as the spec
  asks, so threads and edits work in encrypted rooms.
* Every message says whom it mentions (``m.mentions``): nobody, unless the core asked for mentions,
  which then also get pills, so that names in a text never notify by accident.
* A long text is split into several events: the whole event must stay under 64 KiB after encryption
  (the ciphertext is base64 of JSON in which non-ASCII characters are escaped), edits carry the text
  twice, so each part is kept under :data:`PART_LIMIT` escaped characters.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any, Final

from bot.domain.ids import native_id, platform_of
from bot.messages import Button, EditCard, PostCard, Send, SendFile

PART_LIMIT: Final = 20_000
CARD_ACTIONS: Final = ("ack", "claim", "join")
_OPTION = re.compile(r"^(\d+)\. (.+)$")

Content = dict[str, Any]
#: Rooms the bot creates are encrypted, as Element creates them.
MEGOLM: Final = "m.megolm.v1.aes-sha2"
ENCRYPTION_STATE: Final = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}


def _escaped_size(text: str) -> int:
    return len(json.dumps(text)) - 2


def _fitting(text: str, limit: int) -> int:
    """The length of the longest prefix of ``text`` within ``limit`` escaped characters (at least 1)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _escaped_size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def split_text(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Parts of at most ``limit`` escaped characters, cut at line ends where possible."""
    if _escaped_size(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if current and _escaped_size(current + line) > limit:
            parts.append(current)
            current = ""
        while _escaped_size(line) > limit:
            cut = _fitting(line, limit)
            parts.append(line[:cut])
            line = line[cut:]
        current += line
    if current:
        parts.append(current)
    return [part.rstrip("\n") or part for part in parts]


def _command(button: Button) -> tuple[str, str] | None:
    name, sep, arg = button.key.partition(":")
    return (name, arg) if sep and name in CARD_ACTIONS else None


def options_and_hints(rows: Sequence[Sequence[Button]], *, card: bool = False) -> tuple[list[str], str]:
    """The numbered options and the command hint line of some rows of buttons."""
    options: list[str] = []
    hints: list[str] = []
    for row in rows:
        for button in row:
            command = _command(button)
            if command is None:
                options.append(button.label)
                continue
            name, arg = command
            hint = f"{button.label}: !{name} {arg}".rstrip()
            if card and name == "ack":
                hint += " / +✅"
            hints.append(hint)
    return options, " · ".join(hints)


def numbered(options: Sequence[str]) -> str:
    return "\n".join(f"{index}. {label}" for index, label in enumerate(options, start=1))


def read_choices(body: str) -> tuple[str, list[str]]:
    """Split a rendered message into its text and its numbered options (the inverse of rendering)."""
    text, sep, tail = body.rpartition("\n\n")
    if not sep:
        return body, []
    matches = [_OPTION.match(line) for line in tail.split("\n")]
    if not all(matches) or [int(m.group(1)) for m in matches if m] != list(range(1, len(matches) + 1)):
        return body, []
    return text, [m.group(2) for m in matches if m]


def _compose(text: str, options: Sequence[str], hints: str) -> str:
    blocks = [text] if text else []
    if options:
        blocks.append(numbered(options))
    if hints:
        blocks.append(hints)
    return "\n\n".join(blocks)


def _mentions(identities: Sequence[str]) -> list[str]:
    return [native_id(i) for i in identities if platform_of(i) == "matrix" and native_id(i).startswith("@")]


def _text_content(body: str, mentioned: Sequence[str] = ()) -> Content:
    content: Content = {"msgtype": "m.text", "body": body, "m.mentions": {}}
    if mentioned:
        content["m.mentions"] = {"user_ids": list(mentioned)}
        pills = ", ".join(f'<a href="https://matrix.to/#/{html.escape(u)}">{html.escape(u)}</a>' for u in mentioned)
        content["body"] = f"{body}\n{', '.join(mentioned)}"
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html.escape(body).replace("\n", "<br>") + "<br>" + pills
    return content


def thread_relation(root: str) -> Content:
    """Post into the thread of ``root``; clients without threads show a reply to the root."""
    return {"rel_type": "m.thread", "event_id": root, "is_falling_back": True, "m.in_reply_to": {"event_id": root}}


def message(effect: Send, thread_root: str | None = None) -> list[Content]:
    """One or more ``m.room.message`` contents; options and hints go with the last part."""
    options, hints = options_and_hints(effect.buttons)
    tail = _compose("", options, hints)
    parts = split_text(effect.text)
    if tail:
        if _escaped_size(parts[-1] + tail) + 2 > PART_LIMIT:
            parts.append("")
        parts[-1] = _compose(parts[-1], options, hints)
    contents = []
    for index, part in enumerate(parts):
        content = _text_content(part, _mentions(effect.mentions) if index == 0 else ())
        if thread_root is not None:
            content["m.relates_to"] = thread_relation(thread_root)
        contents.append(content)
    return contents


def card_body(effect: PostCard | EditCard) -> str:
    options, hints = options_and_hints(effect.buttons, card=True)
    body = _compose(effect.text, options, hints)
    return split_text(body)[0]


def card(effect: PostCard) -> Content:
    """The card: an ordinary message that becomes the root of the case's thread."""
    return _text_content(card_body(effect))


def edit(effect: EditCard, card_event: str) -> Content:
    """An edit replacing the card's text (``*`` marks it for clients that do not know edits)."""
    body = card_body(effect)
    return {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.mentions": {},
        "m.new_content": {"msgtype": "m.text", "body": body, "m.mentions": {}},
        "m.relates_to": {"rel_type": "m.replace", "event_id": card_event},
    }


def file(effect: SendFile, url: str, encrypted: dict[str, Any] | None) -> Content:
    """A file message; in an encrypted room ``encrypted`` is the upload's key material."""
    content: Content = {
        "msgtype": "m.file",
        "body": effect.caption or effect.name,
        "filename": effect.name,
        "info": {"mimetype": effect.mime, "size": len(effect.data)},
        "m.mentions": {},
    }
    if encrypted is not None:
        content["file"] = {**encrypted, "url": url}
    else:
        content["url"] = url
    return content
