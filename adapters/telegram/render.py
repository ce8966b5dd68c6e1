"""Effects to Bot API call parameters (keyword arguments of ``telegram.Bot`` methods). Pure.

Texts are sent as HTML: the core's plain text is escaped, and people to notify become text mentions
(``tg://user?id=…``). Telegram counts lengths in UTF-16 code units after parsing the markup, so texts
are split on the plain text, preferring paragraph, line and word boundaries.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)

from bot.domain.ids import native_id
from bot.messages import Button, EditCard, PostCard, Send

PARSE_MODE = "HTML"
MAX_CAPTION = 1024
MAX_TOPIC_NAME = 128
MAX_COMMAND_DESCRIPTION = 256
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: Shown for a person to notify whose name is unknown.
SOMEONE = "👤"

#: ``sign(chat, key, question)`` → callback data (see :mod:`adapters.telegram.buttons`).
Signer = Callable[[str, str, int | None], str]
#: A person to notify: their user id and the name to show.
Mention = tuple[int, str]


def chat_id(address: str) -> int:
    return int(native_id(address))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many characters of ``text`` fit in ``limit`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-16 code units, never inside a character, at
    the last paragraph, line or word break of the second half of a piece when there is one."""
    pieces: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        cut = max(1, _fitting(rest, limit))
        for separator in ("\n\n", "\n", " "):
            found = rest.rfind(separator, cut // 2, cut)
            if found > 0:
                cut = found
                break
        head, rest = rest[:cut].rstrip(), rest[cut:].strip()
        if head:
            pieces.append(head)
    if rest:
        pieces.append(rest)
    return pieces


def html_text(text: str, mentions: Sequence[Mention] = ()) -> str:
    """Escape ``text`` for HTML; each mentioned person's name in it becomes a text mention (the first
    free occurrence), and people whose name does not appear are mentioned on a line of their own."""
    spans: list[tuple[int, int, int]] = []
    missing: list[Mention] = []
    for user, name in mentions:
        found = None
        if name:
            for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
                if all(match.end() <= start or match.start() >= end for start, end, _ in spans):
                    found = match
                    break
        if found is None:
            missing.append((user, name))
        else:
            spans.append((found.start(), found.end(), user))
    out: list[str] = []
    position = 0
    for start, end, user in sorted(spans):
        out.append(html.escape(text[position:start], quote=False))
        out.append(_mention(user, text[start:end]))
        position = end
    out.append(html.escape(text[position:], quote=False))
    if missing:
        out.append("\n" + " ".join(_mention(user, name or SOMEONE) for user, name in missing))
    return "".join(out)


def _mention(user: int, label: str) -> str:
    return f'<a href="tg://user?id={user}">{html.escape(label, quote=False)}</a>'


def keyboard(
    rows: Sequence[Sequence[Button]], chat: int, question: int | None, sign: Signer
) -> InlineKeyboardMarkup | None:
    if not any(rows):
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button.label, callback_data=sign(str(chat), button.key, question)) for button in row]
            for row in rows
            if row
        ]
    )


def messages(
    effect: Send,
    sign: Signer,
    *,
    limit: int,
    card_ref: str | None = None,
    thread_ref: str | None = None,
    mentions: Sequence[Mention] = (),
) -> list[dict[str, Any]]:
    """The ``send_message`` calls for one :class:`Send`: a long text becomes several messages, the
    buttons go on the last one. In a case's thread: its forum topic, or else a reply to its card."""
    chat = chat_id(effect.to)
    reserve = sum(utf16_len(name or SOMEONE) + 1 for _, name in mentions)
    pieces = split(effect.text, limit) or ["…"]
    if reserve and utf16_len(pieces[-1]) + reserve > limit:
        pieces.append("")
    place: dict[str, Any] = {}
    if effect.in_thread and thread_ref:
        place["message_thread_id"] = int(thread_ref)
    elif effect.in_thread and card_ref:
        place["reply_parameters"] = ReplyParameters(int(card_ref), allow_sending_without_reply=True)
    calls = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        calls.append(
            {
                "chat_id": chat,
                "text": html_text(piece, mentions if last else ()).strip(),
                "parse_mode": PARSE_MODE,
                "link_preview_options": NO_PREVIEW,
                "reply_markup": keyboard(effect.buttons, chat, effect.question, sign) if last else None,
                **place,
            }
        )
    return calls


def _single(text: str, limit: int) -> str:
    """Texts that cannot be split (cards, edits) are shortened instead."""
    return text if utf16_len(text) <= limit else text[: _fitting(text, limit - 1)].rstrip() + "…"


def card(effect: PostCard, sign: Signer, *, limit: int, thread: int | None) -> dict[str, Any]:
    chat = chat_id(effect.to)
    call: dict[str, Any] = {
        "chat_id": chat,
        "text": html_text(_single(effect.text, limit)),
        "parse_mode": PARSE_MODE,
        "link_preview_options": NO_PREVIEW,
        "reply_markup": keyboard(effect.buttons, chat, None, sign),
    }
    if thread is not None:
        call["message_thread_id"] = thread
    return call


def topic(effect: PostCard) -> dict[str, Any]:
    """The forum topic that holds a case (one per case, named by ``PostCard.title``)."""
    return {"chat_id": chat_id(effect.to), "name": " ".join(effect.title.split())[:MAX_TOPIC_NAME]}


def edit(effect: EditCard, message_id: int, sign: Signer, *, limit: int) -> dict[str, Any]:
    chat = chat_id(effect.to)
    return {
        "chat_id": chat,
        "message_id": message_id,
        "text": html_text(_single(effect.text, limit)),
        "parse_mode": PARSE_MODE,
        "link_preview_options": NO_PREVIEW,
        "reply_markup": keyboard(effect.buttons, chat, None, sign),  # none: the buttons go away
    }


def caption(text: str) -> str | None:
    """A file's caption as HTML (shortened to Telegram's caption limit), or None."""
    return html_text(_single(text.strip(), MAX_CAPTION)) if text.strip() else None


@dataclass(frozen=True, slots=True)
class Menu:
    """The command list Telegram clients show for one scope and language."""

    scope: str | int  # "default", "all_private_chats", or a chat id (a team room)
    language: str  # two letters, or "" for everyone else
    commands: tuple[tuple[str, str], ...]


def menu(entry: Menu) -> dict[str, Any]:
    """The ``set_my_commands`` call for one menu."""
    scope: BotCommandScope
    if entry.scope == "all_private_chats":
        scope = BotCommandScopeAllPrivateChats()
    elif isinstance(entry.scope, int):
        scope = BotCommandScopeChat(entry.scope)
    else:
        scope = BotCommandScopeDefault()
    return {
        "commands": [BotCommand(name, description[:MAX_COMMAND_DESCRIPTION]) for name, description in entry.commands],
        "scope": scope,
        "language_code": entry.language or None,
    }
