"""A fake Telegram Bot API server for tests and benchmarks.

It speaks real HTTP (aiohttp on 127.0.0.1) so that python-telegram-bot, or any other client, can be
pointed at it with ``base_url``. It imitates the real Bot API server (tdlib/telegram-bot-api in front
of Telegram) for the methods a chat bot like Haven uses, *including the errors and limits*: a bot
that is buggy against Telegram should be buggy against this fake too.

In-process use::

    async with FakeBotApi(token=TOKEN) as server:
        await server.add_user(1001, "Alice", language_code="en")
        bot = telegram.Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url)
        await server.user_sends_text(1001, "/start")
        ...
        msg = await server.wait_for_message(1001, lambda m: "Welcome" in (m.text or ""))

Standalone (benchmarks, subprocess tests)::

    python -m tests.fakes.telegram_api --port 0 --token 123:ABC

It prints one line ``FAKE_TELEGRAM_API_READY port=<port> base_url=<url>`` on stdout once it accepts
connections and runs until SIGTERM/SIGINT.

What is imitated, and where the behaviour comes from
----------------------------------------------------
* Routing ``/bot<token>/<method>`` (method names are case-insensitive), GET or POST, parameters from
  the query string, ``application/x-www-form-urlencoded``, ``application/json`` or
  ``multipart/form-data``; nested objects (``reply_markup``, ``scope``, ``commands``...) arrive
  JSON-encoded as strings, as python-telegram-bot sends them. A wrongly formatted token gives
  404 ``Not Found``, a well-formed wrong token 401 ``Unauthorized``, an unknown method 404 ``Not Found``.
  Files are served at ``/file/bot<token>/<file_path>``.
* ``getUpdates`` follows ``Client::do_get_updates`` and ``TQueue::get`` of telegram-bot-api: update ids
  start at a random value; ``offset`` confirms (forgets) every update with a smaller id; a negative
  offset keeps only the last ``-offset`` updates; an offset more than 10 past the queue tail is invalid
  and answered from the queue head without confirming anything; ``limit`` is clamped to 1..100 and
  ``timeout`` to 0..50 s; a long poll answers as soon as an update arrives; a second concurrent
  ``getUpdates`` terminates the first with 409 ``Conflict: terminated by other getUpdates request...``;
  ``allowed_updates`` filters updates *when they are queued* (the default excludes ``chat_member``,
  ``message_reaction`` and ``message_reaction_count``); messages expire from the queue after 24 h and
  callback queries after 150 s.
* Text: HTML is parsed like tdlib's ``parse_html`` (same tags, same error messages with byte offsets);
  MarkdownV2 and legacy Markdown are parsed like tdlib's parsers for the common constructs. The text
  is trimmed, then its length is counted in UTF-16 code units: 1..4096 for messages, 0..1024 for
  captions. Error texts are the ones of the real server (see ``ApiError`` call sites).
* Chats: a private chat is writable only after the user sent the bot something (403 ``Forbidden: bot
  can't initiate conversation with a user``); a user can block the bot (403 ``Forbidden: bot was
  blocked by the user``); unknown chats give 400 ``Bad Request: chat not found``. In groups the bot only
  sees what Telegram's privacy mode lets it see (commands for it, replies to it, mentions of it,
  everything when it is an administrator or privacy mode is off).
* Rate limits (configurable, see ``RateLimits``): per private chat 1 message/s, per group 20
  messages/min, global 30 messages/s. A send over the limit gets 429 ``Too Many Requests: retry after
  N`` with ``parameters.retry_after`` for that request only. Real Telegram tolerates short bursts; this
  fake enforces the documented numbers as sliding windows, so a bot that paces itself passes both.
  Every successful send is logged with a monotonic timestamp (``send_log``, ``max_in_window``).
* Things that are *not* real: photos are not re-encoded (downloads return the uploaded bytes and a
  single ``PhotoSize``), no webhooks, no inline mode, no payments, no channels.

Control API (JSON over HTTP, for another process)
-------------------------------------------------
All bodies and answers are JSON. Errors answer 400 ``{"error": "..."}``.

=======  ==============================  ==========================================================
GET      /_control/state                 counters: get_updates_calls, last_offset, confirmed_before,
                                         pending_updates, bot (getMe result)
POST     /_control/users                 add_user: {id, first_name, language_code?, username?,
                                         last_name?, is_bot?}
POST     /_control/groups                add_group: {id, title, is_forum?, members?, username?,
                                         bot_status?, bot_can_manage_topics?, type?}
POST     /_control/messages              user_sends_text: {user_id, text, chat_id?,
                                         message_thread_id?, reply_to_message_id?} -> Message
POST     /_control/press                 user_presses_button: {user_id, chat_id, message_id,
                                         callback_data, force?} -> CallbackQuery
POST     /_control/block                 {user_id, blocked: bool}
GET      /_control/sent                  bot messages: ?chat_id=&include_deleted=1 -> [SentMessage]
POST     /_control/wait                  wait_for_messages: {chat_id, count?, timeout?,
                                         text_contains?, after_message_id?} -> [SentMessage]
POST     /_control/faults                {method, times?, chat_id?, mode: error|hang|drop,
                                         error_code?, description?, retry_after?}
DELETE   /_control/faults                clear all faults
POST     /_control/updates/pause         withhold updates from getUpdates
POST     /_control/updates/resume
GET      /_control/commands              [{scope, language_code, commands}]
GET      /_control/callback_answers      [{callback_query_id, text, show_alert, url, cache_time}]
GET      /_control/rates                 ?window=1.0 -> {"<chat_id>": max sends in any window}
=======  ==============================  ==========================================================

A SentMessage in the control API is ``{"chat_id", "message_id", "message": <Message JSON>,
"history": [<earlier versions>], "deleted": bool, "sent_at": <monotonic seconds>}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import math
import random
import re
import signal
import socket
import struct
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "CallbackAnswer",
    "FakeBotApi",
    "FakeGroup",
    "FakeUser",
    "RateLimit",
    "RateLimits",
    "SendRecord",
    "StoredMessage",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "utf16_len",
]

log = logging.getLogger(__name__)

JSON = dict[str, Any]

DEFAULT_TOKEN = "123456789:AAF-fakeTokenForHavenTests_0123456789"

MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units, after entity parsing and trimming
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_TEXT = 200
MAX_COMMANDS = 100
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # multipart upload limit of the cloud Bot API
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile limit of the cloud Bot API
MAX_PHOTO_BYTES = 10 * 1024 * 1024
LONG_POLL_MAX_TIMEOUT = 50
MESSAGE_UPDATE_TTL = 86400.0
CALLBACK_UPDATE_TTL = 150.0
FORUM_ICON_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)

UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}

CHAT_ACTIONS = frozenset(
    {
        "cancel",
        "typing",
        "record_video",
        "upload_video",
        "record_audio",
        "record_voice",
        "upload_audio",
        "upload_voice",
        "upload_photo",
        "upload_document",
        "choose_sticker",
        "pick_up_location",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# ReactionTypeEmoji.emoji: the emoji a bot may react with (Bot API docs).
REACTION_EMOJI = frozenset(
    [
        "👍",
        "👎",
        "❤",
        "🔥",
        "🥰",
        "👏",
        "😁",
        "🤔",
        "🤯",
        "😱",
        "🤬",
        "😢",
        "🎉",
        "🤩",
        "🤮",
        "💩",
        "🙏",
        "👌",
        "🕊",
        "🤡",
        "🥱",
        "🥴",
        "😍",
        "🐳",
        "\u2764\ufe0f\u200d\U0001f525",
        "🌚",
        "🌭",
        "💯",
        "🤣",
        "⚡",
        "🍌",
        "🏆",
        "💔",
        "🤨",
        "😐",
        "🍓",
        "🍾",
        "💋",
        "🖕",
        "😈",
        "😴",
        "😭",
        "🤓",
        "👻",
        "\U0001f468\u200d\U0001f4bb",
        "👀",
        "🎃",
        "🙈",
        "😇",
        "😨",
        "🤝",
        "✍",
        "🤗",
        "🫡",
        "🎅",
        "🎄",
        "☃",
        "💅",
        "🤪",
        "🗿",
        "🆒",
        "💘",
        "🙉",
        "🦄",
        "😘",
        "💊",
        "🙊",
        "😎",
        "👾",
        "\U0001f937\u200d\u2642\ufe0f",
        "🤷",
        "\U0001f937\u200d\u2640\ufe0f",
        "😡",
    ]
)

_TOKEN_FORMAT = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]+$")
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code", "description", "parameters"}``."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(text: str) -> ApiError:
    """A 400 with the real server's capitalisation rule (see ``Client::fail_query_with_error``)."""
    if len(text) >= 2 and (text[1] == "_" or text[1].isupper()):
        return ApiError(400, f"Bad Request: {text}")
    return ApiError(400, f"Bad Request: {text[0].lower()}{text[1:]}")


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    retry_after = max(1, int(retry_after))
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
QUERY_ID_INVALID = "query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------------------------------
# Text helpers: UTF-16 lengths and the entity parsers
# --------------------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts lengths and entity offsets in."""
    return len(text.encode("utf-16-le")) // 2


class EntityParseError(Exception):
    pass


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def _utf8_char_len(lead: int) -> int:
    if lead < 0x80:
        return 1
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    if lead >= 0xC0:
        return 2
    return 1


def _decode_html_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Like tdlib's ``decode_html_entity``: returns (code point or 0, position after the entity)."""
    n = len(data)
    end = pos + 1
    res = 0
    if end < n and data[end] == ord("#"):
        end += 1
        if end < n and data[end] == ord("x"):
            end += 1
            while end < n and chr(data[end]) in "0123456789abcdefABCDEF":
                res = res * 16 + int(chr(data[end]), 16)
                end += 1
                if res > 0x10FFFF:
                    break
        else:
            while end < n and 48 <= data[end] <= 57:
                res = res * 10 + data[end] - 48
                end += 1
                if res > 0x10FFFF:
                    break
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while end < n and chr(data[end]).isascii() and chr(data[end]).isalpha():
            end += 1
        name = data[pos + 1 : end]
        named = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
        if name not in named:
            return 0, pos
        res = ord(named[name])
    if end < n and data[end] == ord(";"):
        end += 1
    return res, end


def _checked_url(url: str) -> str | None:
    """Loose stand-in for ``LinkManager::get_checked_link``: http(s)/tg/ton links, or a bare host."""
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    if m:
        scheme = m.group(1).lower()
        if scheme not in ("http", "https", "tg", "ton", "tonsite"):
            return None
        return url
    if re.match(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(/.*)?$", url):
        return "http://" + url
    return None


def _link_entity(url: str, offset: int, length: int) -> JSON | None:
    m = re.match(r"^tg://user\?id=([0-9]+)$", url)
    if m:
        return {
            "type": "text_mention",
            "offset": offset,
            "length": length,
            "user": {"id": int(m.group(1)), "is_bot": False, "first_name": ""},
        }
    checked = _checked_url(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


def _sort_entities(entities: list[JSON]) -> list[JSON]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML like tdlib's ``parse_html``; raises ``EntityParseError`` with tdlib's text."""
    data = text.encode("utf-8")
    n = len(data)
    out = bytearray()
    utf16 = 0
    entities: list[JSON] = []
    # (tag name, argument, entity utf16 offset, byte position in out)
    stack: list[tuple[str, str, int, int]] = []
    i = 0
    while i < n:
        c = data[i]
        if c == ord("&"):
            code, after = _decode_html_entity(data, i)
            if code:
                ch = chr(code)
                utf16 += 2 if code > 0xFFFF else 1
                out += ch.encode("utf-8", "surrogatepass")
                i = after
                continue
        if c != ord("<"):
            size = _utf8_char_len(c)
            if c < 0x80 or c >= 0xC0:
                utf16 += 2 if c >= 0xF0 else 1
            out += data[i : i + size]
            i += size
            continue
        begin = i
        i += 1
        if i >= n or data[i] != ord("/"):
            while i < n and data[i] not in _HTML_SPACE and data[i] != ord(">"):
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            expandable = False
            while i < n and data[i] != ord(">"):
                while i < n and data[i] in _HTML_SPACE:
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if data[i] == ord(">"):
                    break
                attr_begin = i
                while i < n and data[i] not in _HTML_SPACE and data[i] not in (ord("="), ord(">")):
                    i += 1
                attr_name = data[attr_begin:i].decode("utf-8", "replace")
                if not attr_name:
                    raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
                while i < n and data[i] in _HTML_SPACE:
                    i += 1
                if tag == "blockquote" and attr_name == "expandable" and (i >= n or data[i] != ord("=")):
                    expandable = True
                    continue
                if i >= n or data[i] != ord("="):
                    raise EntityParseError(
                        f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
                    )
                i += 1
                while i < n and data[i] in _HTML_SPACE:
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if data[i] not in (ord("'"), ord('"')):
                    token_begin = i
                    while i < n and (chr(data[i]).isascii() and (chr(data[i]).isalnum() or chr(data[i]) in ".-")):
                        i += 1
                    value = data[token_begin:i].decode("ascii").lower()
                    if i >= n or (data[i] not in _HTML_SPACE and data[i] != ord(">")):
                        raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
                else:
                    quote = data[i]
                    i += 1
                    buf = bytearray()
                    while i < n and data[i] != quote:
                        if data[i] == ord("&"):
                            code, after = _decode_html_entity(data, i)
                            if code:
                                buf += chr(code).encode("utf-8", "surrogatepass")
                                i = after
                                continue
                        buf.append(data[i])
                        i += 1
                    if i < n and data[i] == quote:
                        i += 1
                    value = buf.decode("utf-8", "replace")
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            if tag == "blockquote" and expandable:
                argument = "expandable"
            stack.append((tag, argument, utf16, len(out)))
            i += 1  # the '>'
            continue
        # an end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while i < n and data[i] not in _HTML_SPACE and data[i] != ord(">"):
            i += 1
        end_tag = data[begin + 2 : i].decode("utf-8", "replace").lower()
        while i < n and data[i] in _HTML_SPACE:
            i += 1
        if i >= n or data[i] != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, out_pos = stack[-1]
        if end_tag and end_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_tag}>"'
            )
        length = utf16 - offset
        if length > 0:
            entity: JSON | None
            if tag in ("i", "em"):
                entity = {"type": "italic", "offset": offset, "length": length}
            elif tag in ("b", "strong"):
                entity = {"type": "bold", "offset": offset, "length": length}
            elif tag in ("s", "strike", "del"):
                entity = {"type": "strikethrough", "offset": offset, "length": length}
            elif tag in ("u", "ins"):
                entity = {"type": "underline", "offset": offset, "length": length}
            elif tag in ("tg-spoiler", "span"):
                entity = {"type": "spoiler", "offset": offset, "length": length}
            elif tag == "tg-emoji":
                if not argument.isdigit() or int(argument) == 0:
                    raise EntityParseError("Invalid custom emoji identifier specified")
                entity = {"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": argument}
            elif tag == "a":
                url = argument or out[out_pos:].decode("utf-8", "replace")
                entity = _link_entity(url, offset, length)
            elif tag == "pre":
                last = entities[-1] if entities else None
                if (
                    last is not None
                    and last["type"] == "code"
                    and last["offset"] == offset
                    and last["length"] == length
                    and last.get("language")
                ):
                    last["type"] = "pre"
                    entity = None
                else:
                    entity = {"type": "pre", "offset": offset, "length": length}
            elif tag == "code":
                last = entities[-1] if entities else None
                if (
                    last is not None
                    and last["type"] == "pre"
                    and last["offset"] == offset
                    and last["length"] == length
                    and argument
                ):
                    last["language"] = argument
                    entity = None
                else:
                    entity = {"type": "code", "offset": offset, "length": length}
                    if argument:
                        entity["language"] = argument
            else:  # blockquote
                kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
                entity = {"type": kind, "offset": offset, "length": length}
            if entity is not None:
                entities.append(entity)
        stack.pop()
        i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    try:
        result = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched "
            "surrogate code units"
        ) from exc
    return result, _sort_entities(entities)


_MD2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MD_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Parse MarkdownV2 like tdlib's ``parse_markdown_v2`` (blockquotes: ``>`` at line starts)."""
    s = text
    n = len(s)
    out: list[str] = []
    utf16 = 0
    entities: list[JSON] = []
    # (type, argument, utf16 offset, char offset in text, len(out) at start)
    stack: list[tuple[str, str, int, int, int]] = []
    quote_start: int | None = None
    byte_offsets = [0] * (n + 1)
    for idx, ch in enumerate(s):
        byte_offsets[idx + 1] = byte_offsets[idx] + len(ch.encode("utf-8"))

    def at(k: int) -> str:
        return s[k] if 0 <= k < n else "\0"

    def append(ch: str) -> None:
        nonlocal utf16
        out.append(ch)
        utf16 += utf16_len(ch)

    def close_quote() -> None:
        nonlocal quote_start
        if quote_start is not None and utf16 > quote_start:
            entities.append({"type": "blockquote", "offset": quote_start, "length": utf16 - quote_start})
        quote_start = None

    i = 0
    while i < n:
        c = s[i]
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        line_start = i == 0 or s[i - 1] == "\n"
        if line_start and not in_code:
            if c == ">":
                if quote_start is None:
                    quote_start = utf16
                i += 1
                continue
            if quote_start is not None:
                # the previous line was quoted, this one is not: the quote ended at the newline
                if out and out[-1] == "\n":
                    end = utf16 - 1
                    if end > quote_start:
                        entities.append({"type": "blockquote", "offset": quote_start, "length": end - quote_start})
                    quote_start = None
                else:
                    close_quote()
        if c == "\\" and i + 1 < n and 0 < ord(s[i + 1]) <= 126:
            append(s[i + 1])
            i += 2
            continue
        reserved = "`" if in_code else _MD2_RESERVED
        if c not in reserved:
            append(c)
            i += 1
            continue
        is_end = False
        if stack:
            kind = stack[-1][0]
            if kind == "bold":
                is_end = c == "*"
            elif kind == "italic":
                is_end = c == "_" and at(i + 1) != "_"
            elif kind == "code":
                is_end = c == "`"
            elif kind == "pre":
                is_end = c == "`" and at(i + 1) == "`" and at(i + 2) == "`"
            elif kind in ("text_link", "custom_emoji"):
                is_end = c == "]"
            elif kind == "underline":
                is_end = c == "_" and at(i + 1) == "_"
            elif kind == "strikethrough":
                is_end = c == "~"
            elif kind == "spoiler":
                is_end = c == "|" and at(i + 1) == "|"
        if not is_end:
            start = i
            argument = ""
            if c == "_":
                if at(i + 1) == "_":
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == "*":
                kind = "bold"
            elif c == "~":
                kind = "strikethrough"
            elif c == "|" and at(i + 1) == "|":
                kind = "spoiler"
                i += 1
            elif c == "[":
                kind = "text_link"
            elif c == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while lang_end < n and not s[lang_end].isspace() and s[lang_end] != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and s[lang_end] != "`":
                        argument = s[i:lang_end]
                        i = lang_end
                    if at(i) in "\n\r":
                        if at(i + 1) in "\n\r" and at(i) != at(i + 1):
                            i += 2
                        else:
                            i += 1
                    i -= 1
                else:
                    kind = "code"
            elif c == "!" and at(i + 1) == "[":
                kind = "custom_emoji"
                i += 1
            else:
                raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            stack.append((kind, argument, utf16, start, len(out)))
            i += 1
            continue
        kind, argument, offset, _start, out_pos = stack.pop()
        skip = utf16 == offset
        entity: JSON | None = None
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind == "pre":
            i += 2
        elif kind in ("text_link", "custom_emoji"):
            url = ""
            if at(i + 1) != "(":
                if kind == "custom_emoji":
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                url = "".join(out[out_pos:])
            else:
                i += 2
                url_begin = i
                chars: list[str] = []
                while i < n and s[i] != ")":
                    if s[i] == "\\" and i + 1 < n and 0 < ord(s[i + 1]) <= 126:
                        chars.append(s[i + 1])
                        i += 2
                        continue
                    chars.append(s[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {byte_offsets[url_begin]}")
                url = "".join(chars)
            if not skip:
                if kind == "custom_emoji":
                    m = re.match(r"^tg://emoji\?id=([0-9]+)$", url)
                    if not m:
                        raise EntityParseError("Custom emoji URL must have an emoji identifier")
                    entity = {
                        "type": "custom_emoji",
                        "offset": offset,
                        "length": utf16 - offset,
                        "custom_emoji_id": m.group(1),
                    }
                else:
                    entity = _link_entity(url, offset, utf16 - offset)
            skip = skip or entity is None
        if not skip:
            if entity is None:
                entity = {"type": kind, "offset": offset, "length": utf16 - offset}
                if kind == "pre" and argument:
                    entity["language"] = argument
            entities.append(entity)
        i += 1
    if stack:
        kind, _a, _o, start, _p = stack[-1]
        raise EntityParseError(f"Can't find end of {_MD_TYPE_NAMES[kind]} entity at byte offset {byte_offsets[start]}")
    close_quote()
    return "".join(out), _sort_entities(entities)


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Parse legacy Markdown like tdlib's ``parse_markdown``."""
    s = text
    n = len(s)
    out: list[str] = []
    utf16 = 0
    entities: list[JSON] = []
    byte_offsets = [0] * (n + 1)
    for idx, ch in enumerate(s):
        byte_offsets[idx + 1] = byte_offsets[idx] + len(ch.encode("utf-8"))

    def at(k: int) -> str:
        return s[k] if 0 <= k < n else "\0"

    i = 0
    while i < n:
        c = s[i]
        if c == "\\" and at(i + 1) in "_*`[":
            out.append(s[i + 1])
            utf16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            utf16 += utf16_len(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        i += 1
        language = ""
        if c == "`" and at(i) == "`" and at(i + 1) == "`":
            i += 2
            is_pre = True
            lang_end = i
            while lang_end < n and not s[lang_end].isspace() and s[lang_end] != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and s[lang_end] != "`":
                language = s[i:lang_end]
                i = lang_end
            if at(i) in "\n\r":
                if at(i + 1) in "\n\r" and at(i) != at(i + 1):
                    i += 2
                else:
                    i += 1
        offset = utf16
        inner_start = len(out)
        while i < n and (s[i] != end_char or (is_pre and not (at(i + 1) == "`" and at(i + 2) == "`"))):
            out.append(s[i])
            utf16 += utf16_len(s[i])
            i += 1
        if i >= n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {byte_offsets[begin]}")
        if utf16 != offset:
            length = utf16 - offset
            entity: JSON | None
            if c == "_":
                entity = {"type": "italic", "offset": offset, "length": length}
            elif c == "*":
                entity = {"type": "bold", "offset": offset, "length": length}
            elif c == "[":
                url = ""
                if at(i + 1) != "(":
                    url = "".join(out[inner_start:])
                else:
                    i += 2
                    chars: list[str] = []
                    while i < n and s[i] != ")":
                        chars.append(s[i])
                        i += 1
                    url = "".join(chars)
                entity = _link_entity(url, offset, length)
            elif is_pre:
                entity = {"type": "pre", "offset": offset, "length": length}
                if language:
                    entity["language"] = language
            else:
                entity = {"type": "code", "offset": offset, "length": length}
            if entity is not None:
                entities.append(entity)
        if is_pre:
            i += 2
        i += 1
    return "".join(out), _sort_entities(entities)


_AUTO_ENTITY = re.compile(
    r"(?P<bot_command>(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@/]))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{3,32}(?!\w))"
    r"|(?P<hashtag>(?<![\w#])#[^\W\d_][\w]*)"
    r"|(?P<url>\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]'])"
)


def find_entities(text: str) -> list[JSON]:
    """Entities Telegram detects on its own: bot commands, mentions, hashtags, URLs."""
    found: list[JSON] = []
    for m in _AUTO_ENTITY.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        found.append({"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))})
    return found


def _merge_entities(explicit: list[JSON], detected: list[JSON]) -> list[JSON]:
    result = list(explicit)
    for entity in detected:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if any(
            e["type"] in ("code", "pre", "text_link", "text_mention", "custom_emoji")
            and e["offset"] < end
            and start < e["offset"] + e["length"]
            for e in explicit
        ):
            continue
        result.append(entity)
    return _sort_entities(result)


def _trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Strip leading/trailing spaces and newlines as tdlib's ``fix_formatted_text`` does."""
    stripped_left = text.lstrip(" \n")
    cut = len(text) - len(stripped_left)  # ASCII only: one UTF-16 unit each
    result = stripped_left.rstrip(" \n")
    total = utf16_len(result)
    fixed: list[JSON] = []
    for entity in entities:
        start = max(entity["offset"] - cut, 0)
        end = min(entity["offset"] + entity["length"] - cut, total)
        if end > start:
            fixed.append({**entity, "offset": start, "length": end - start})
    return result, fixed


# --------------------------------------------------------------------------------------------------
# Images: dimensions without Pillow, and a generator for tests
# --------------------------------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF or WebP image, or None if it is not one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return int(w) & 0x3FFF, int(h) & 0x3FFF
        if chunk == b"VP8L":
            b = data[21:25]
            w = 1 + (((b[1] & 0x3F) << 8) | b[0])
            h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
            return w, h
        if chunk == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return w, h
        return None
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h = int.from_bytes(data[i + 5 : i + 7], "big")
                w = int.from_bytes(data[i + 7 : i + 9], "big")
                return w, h
            i += 2 + seg_len
    return None


def make_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small valid PNG, for tests that need a photo."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_messages`` successful sends in any sliding window of ``per_seconds``."""

    max_messages: int
    per_seconds: float


@dataclass
class RateLimits:
    """Flood limits. The defaults are the numbers Telegram documents in its bot FAQ."""

    private: RateLimit | None = field(default_factory=lambda: RateLimit(1, 1.0))
    group: RateLimit | None = field(default_factory=lambda: RateLimit(20, 60.0))
    global_: RateLimit | None = field(default_factory=lambda: RateLimit(30, 1.0))
    count_edits: bool = False  # whether editMessageText/ReplyMarkup/Caption count as sends

    @classmethod
    def disabled(cls) -> RateLimits:
        return cls(private=None, group=None, global_=None)


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    started: bool = False  # has written to the bot in private: the bot may now write back
    blocked: bool = False  # has blocked the bot
    deactivated: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data

    def chat_json(self) -> JSON:
        data: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class ForumTopic:
    message_thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    is_closed: bool = False
    created_by_bot: bool = False

    def to_json(self) -> JSON:
        data: JSON = {"message_thread_id": self.message_thread_id, "name": self.name, "icon_color": self.icon_color}
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


BotStatus = Literal["administrator", "member", "left", "kicked"]


@dataclass
class FakeGroup:
    id: int
    title: str
    type: Literal["group", "supergroup"] = "supergroup"
    is_forum: bool = False
    username: str | None = None
    members: set[int] = field(default_factory=set)
    admins: set[int] = field(default_factory=set)
    bot_status: BotStatus = "administrator"
    bot_can_manage_topics: bool = True
    bot_can_delete_messages: bool = True
    topics: dict[int, ForumTopic] = field(default_factory=dict)

    def chat_json(self) -> JSON:
        data: JSON = {"id": self.id, "title": self.title, "type": self.type}
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class StoredMessage:
    """A message in a chat, as the fake keeps it. Bot messages are what tests inspect."""

    chat_id: int
    message_id: int
    from_bot: bool
    json: JSON  # the current Message object, exactly as the Bot API would return it
    sent_at: float  # time.monotonic() when it was sent
    method: str = ""
    markup: JSON | None = None  # the reply_markup the bot sent (also reply keyboards, not in ``json``)
    history: list[JSON] = field(default_factory=list)  # earlier versions, oldest first
    deleted: bool = False
    deleted_at: float | None = None
    reactions: list[JSON] = field(default_factory=list)  # the bot's reaction on the message
    user_reactions: dict[int, list[JSON]] = field(default_factory=dict)

    @property
    def text(self) -> str | None:
        value = self.json.get("text", self.json.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def entities(self) -> list[JSON]:
        value = self.json.get("entities", self.json.get("caption_entities", []))
        return list(value) if isinstance(value, list) else []

    @property
    def reply_markup(self) -> JSON | None:
        return self.markup

    @property
    def message_thread_id(self) -> int | None:
        value = self.json.get("message_thread_id")
        return value if isinstance(value, int) else None

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def edit_history(self) -> list[str | None]:
        """The texts of earlier versions, oldest first."""
        return [h.get("text", h.get("caption")) for h in self.history]

    def buttons(self) -> list[JSON]:
        """The inline keyboard buttons, row by row, flattened."""
        if not self.markup:
            return []
        rows = self.markup.get("inline_keyboard") or []
        return [button for row in rows for button in row if isinstance(button, dict)]

    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons() if isinstance(b.get("callback_data"), str)]

    def to_json(self) -> JSON:
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "message": self.json,
            "reply_markup": self.markup,
            "history": self.history,
            "deleted": self.deleted,
            "sent_at": self.sent_at,
        }


@dataclass
class SendRecord:
    chat_id: int
    message_id: int
    method: str
    at: float  # time.monotonic()


@dataclass
class CallbackQueryState:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    answered_at: float
    delay: float  # seconds between the press and the answer

    def to_json(self) -> JSON:
        return {
            "callback_query_id": self.callback_query_id,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
            "cache_time": self.cache_time,
            "delay": self.delay,
        }


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str  # photo, document, sticker
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Fault:
    method: str  # lower case
    remaining: int
    chat_id: str | None
    mode: Literal["error", "hang", "drop"]
    error_code: int = 500
    description: str | None = None
    retry_after: int | None = None
    hold_seconds: float = 120.0

    def matches(self, method: str, params: Mapping[str, str]) -> bool:
        if self.remaining <= 0 or self.method != method:
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id

    def error(self) -> ApiError:
        if self.error_code == 429:
            retry = self.retry_after if self.retry_after is not None else 1
            err = too_many_requests(retry)
            if self.description:
                err.description = self.description
            return err
        description = self.description or {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(self.error_code, "Internal Server Error")
        params: JSON | None = {"retry_after": self.retry_after} if self.retry_after else None
        return ApiError(self.error_code, description, params)


@dataclass
class ApiRequest:
    method: str  # as the client spelled it
    params: dict[str, str]
    files: list[str]
    at: float
    status: int = 0
    response: JSON | None = None  # the JSON body answered (None while pending or if dropped)


@dataclass
class _QueuedUpdate:
    update_id: int
    kind: str
    payload: JSON
    expires_at: float

    def to_json(self) -> JSON:
        return {"update_id": self.update_id, self.kind: self.payload}


class _Poll:
    """One pending long poll; a newer getUpdates terminates it."""

    def __init__(self) -> None:
        self.terminated = False


class _ChatState:
    def __init__(self, chat_id: int) -> None:
        self.id = chat_id
        self.next_message_id = 1
        self.messages: dict[int, StoredMessage] = {}
        self.chat_instance = str(random.randint(10**17, 9 * 10**18) * random.choice((1, -1)))

    def new_message_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid


Handler = Callable[[dict[str, str], dict[str, Upload]], Awaitable[Any]]


# --------------------------------------------------------------------------------------------------
# Small parsing helpers
# --------------------------------------------------------------------------------------------------


def _to_int(value: str | None, default: int = 0) -> int:
    """Like ``td::to_integer``: leading sign and digits, anything else gives what was read so far."""
    if value is None:
        return default
    m = re.match(r"^\s*([+-]?[0-9]+)", value)
    if not m:
        return default if value.strip() == "" else 0
    return int(m.group(1))


def _to_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def _json_arg(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request(f"Can't parse {what} JSON object") from None


def _field_error(name: str, kind: str) -> str:
    return f'Field "{name}" must be of type {kind}'


def _copy(data: JSON) -> JSON:
    result = json.loads(json.dumps(data))
    assert isinstance(result, dict)
    return result


def _inline_only(markup: JSON | None) -> JSON | None:
    if markup and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _random_file_id(rng: random.Random, prefix: bytes, size: int) -> str:
    raw = prefix + bytes(rng.getrandbits(8) for _ in range(size))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class FakeBotApi:
    """The fake Bot API server. Use as ``async with FakeBotApi(token=...) as server``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "haven_test_bot",
        bot_first_name: str = "Haven Test Bot",
        rate_limits: RateLimits | None = None,
        callback_answer_timeout: float = 15.0,
        privacy_mode: bool = True,
        seed: int | None = None,
        hang_seconds: float = 120.0,
    ) -> None:
        if not _TOKEN_FORMAT.match(token):
            raise ValueError(f"not a bot token: {token!r}")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.host = host
        self._requested_port = port
        self.port = 0
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        # Telegram does not document how long a callback query can be answered; in practice it is
        # about 10-15 seconds after the press.
        self.callback_answer_timeout = callback_answer_timeout
        self.privacy_mode = privacy_mode
        self.hang_seconds = hang_seconds
        self._rng = random.Random(seed)

        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        self._chats: dict[int, _ChatState] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}

        self._updates: list[_QueuedUpdate] = []
        self._next_update_id = self._rng.randint(1_000_000, 1_000_000_000)
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self.get_updates_calls = 0
        self.last_offset: int | None = None  # the offset parameter of the last getUpdates, if any
        self.last_confirmed_offset: int | None = None  # last offset that confirmed updates
        self.updates_paused = False
        self._poll: _Poll | None = None
        self.delivered_update_ids: list[int] = []

        self.send_log: list[SendRecord] = []
        self._recent: dict[int, list[float]] = {}
        self._recent_global: list[float] = []
        self.rate_limited: list[tuple[int, float, int]] = []  # (chat_id, monotonic, retry_after)

        self.commands_store: dict[tuple[tuple[Any, ...], str], list[JSON]] = {}
        self.callback_answers: list[CallbackAnswer] = []
        self._callback_queries: dict[str, CallbackQueryState] = {}
        self.chat_actions: list[tuple[int, str, float]] = []
        self.requests: list[ApiRequest] = []
        self._faults: list[Fault] = []

        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Handler] = {
            "getme": self._m_getme,
            "getupdates": self._m_getupdates,
            "deletewebhook": self._m_deletewebhook,
            "getwebhookinfo": self._m_getwebhookinfo,
            "sendmessage": self._m_sendmessage,
            "editmessagetext": self._m_editmessagetext,
            "editmessagecaption": self._m_editmessagecaption,
            "editmessagereplymarkup": self._m_editmessagereplymarkup,
            "deletemessage": self._m_deletemessage,
            "answercallbackquery": self._m_answercallbackquery,
            "setmycommands": self._m_setmycommands,
            "getmycommands": self._m_getmycommands,
            "deletemycommands": self._m_deletemycommands,
            "createforumtopic": self._m_createforumtopic,
            "editforumtopic": self._m_editforumtopic,
            "closeforumtopic": self._m_closeforumtopic,
            "reopenforumtopic": self._m_reopenforumtopic,
            "deleteforumtopic": self._m_deleteforumtopic,
            "sendphoto": self._m_sendphoto,
            "senddocument": self._m_senddocument,
            "sendlocation": self._m_sendlocation,
            "getfile": self._m_getfile,
            "getchat": self._m_getchat,
            "getchatmember": self._m_getchatmember,
            "sendchataction": self._m_sendchataction,
            "setmessagereaction": self._m_setmessagereaction,
        }

    # ---------------------------------------------------------------------------------------------
    # Lifecycle
    # ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``telegram.Bot(base_url=...)``: PTB appends the token and the method."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._add_control_routes(app)
        return app

    async def start(self) -> None:
        self._closing = asyncio.Event()
        self._changed = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self.port = int(sock.getsockname()[1])
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner
        log.info("fake Bot API listening on %s", self.url)

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------------------------------------
    # Change notification and waiting
    # ---------------------------------------------------------------------------------------------

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    async def _wait_change(self, timeout: float) -> None:  # noqa: ASYNC109
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper with a deadline
        what: str = "condition",
    ) -> None:
        """Wait, without polling, until ``predicate()`` is true after some change of the fake's state."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await self._wait_change(remaining)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        predicate: Callable[[StoredMessage], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper with a deadline
        after_message_id: int = 0,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """The first ``count`` bot messages in the chat (newer than ``after_message_id``) matching."""

        def matching() -> list[StoredMessage]:
            found = [
                m
                for m in self.sent_messages(chat_id, include_deleted=include_deleted)
                if m.message_id > after_message_id and (predicate is None or predicate(m))
            ]
            return found[:count]

        try:
            await self.wait_until(lambda: len(matching()) >= count, timeout)
        except AssertionError:
            sent = [(m.message_id, m.text) for m in self.sent_messages(chat_id)]
            raise AssertionError(
                f"timed out after {timeout}s waiting for {count} matching bot message(s) in chat {chat_id}; "
                f"the bot sent there: {sent}"
            ) from None
        return matching()

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper with a deadline
        *,
        after_message_id: int = 0,
    ) -> StoredMessage:
        return (
            await self.wait_for_messages(chat_id, 1, predicate, timeout=timeout, after_message_id=after_message_id)
        )[0]

    # ---------------------------------------------------------------------------------------------
    # Test-side setup
    # ---------------------------------------------------------------------------------------------

    def bot_json(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    async def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
    ) -> FakeUser:
        if user_id <= 0:
            raise ValueError("user ids are positive")
        if user_id in self.users or user_id == self.bot_id:
            raise ValueError(f"user {user_id} already exists")
        user = FakeUser(user_id, first_name, last_name, username, language_code, is_bot)
        self.users[user_id] = user
        self._notify()
        return user

    async def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        is_forum: bool = False,
        members: Iterable[int] = (),
        admins: Iterable[int] = (),
        username: str | None = None,
        bot_status: BotStatus = "administrator",
        bot_can_manage_topics: bool = True,
        type: Literal["group", "supergroup"] = "supergroup",
    ) -> FakeGroup:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        if chat_id in self.groups:
            raise ValueError(f"group {chat_id} already exists")
        if is_forum and type != "supergroup":
            raise ValueError("only supergroups can be forums")
        member_ids = set(members) | set(admins)
        unknown = [m for m in member_ids if m not in self.users]
        if unknown:
            raise ValueError(f"unknown users {unknown}: add_user them first")
        group = FakeGroup(
            chat_id,
            title,
            type,
            is_forum,
            username,
            member_ids,
            set(admins),
            bot_status,
            bot_can_manage_topics,
        )
        self.groups[chat_id] = group
        self._notify()
        return group

    async def add_group_member(self, chat_id: int, user_id: int, *, admin: bool = False) -> None:
        group = self._group(chat_id)
        self._user(user_id)
        group.members.add(user_id)
        if admin:
            group.admins.add(user_id)
        self._notify()

    async def user_creates_topic(self, user_id: int, chat_id: int, name: str, icon_color: int | None = None) -> JSON:
        """A member creates a forum topic; returns the ForumTopic."""
        group = self._group(chat_id)
        user = self._member(group, user_id)
        if not group.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        color = icon_color if icon_color is not None else self._rng.choice(FORUM_ICON_COLORS)
        topic = self._create_topic(group, name, color, None, sender=user)
        return topic.to_json()

    async def set_bot_status(self, chat_id: int, status: BotStatus) -> None:
        """The bot is promoted, demoted, removed or banned; sends a my_chat_member update."""
        group = self._group(chat_id)
        old = group.bot_status
        group.bot_status = status
        if old != status:
            self._queue_my_chat_member(group.chat_json(), None, old, status)
        self._notify()

    async def user_blocks_bot(self, user_id: int) -> None:
        user = self._user(user_id)
        if not user.blocked:
            user.blocked = True
            self._queue_my_chat_member(user.chat_json(), user, "member", "kicked")
        self._notify()

    async def user_unblocks_bot(self, user_id: int, *, send_start: bool = True) -> None:
        """Unblocking shows the user a Restart button, which sends /start."""
        user = self._user(user_id)
        if user.blocked:
            user.blocked = False
            self._queue_my_chat_member(user.chat_json(), user, "kicked", "member")
        self._notify()
        if send_start:
            await self.user_sends_text(user_id, "/start")

    async def deactivate_user(self, user_id: int) -> None:
        self._user(user_id).deactivated = True
        self._notify()

    # ---------------------------------------------------------------------------------------------
    # Test-side user actions (each queues the update the bot would receive)
    # ---------------------------------------------------------------------------------------------

    async def user_sends_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """The user sends a text message; commands get ``bot_command`` entities like in real clients."""
        if not text:
            raise ValueError("Telegram clients do not send empty messages")
        content: JSON = {"text": text}
        found = entities if entities is not None else find_entities(text)
        if found:
            content["entities"] = found
        stored = self._user_message(user_id, chat_id, message_thread_id, reply_to_message_id, content)
        return stored.json

    async def user_sends_photo(
        self,
        user_id: int,
        data: bytes | None = None,
        chat_id: int | None = None,
        *,
        caption: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSON:
        data = data if data is not None else make_png(32, 24)
        size = image_size(data)
        if size is None:
            raise ValueError("not an image")
        stored_file = self._store_file(data, "photo", mime_type="image/jpeg", width=size[0], height=size[1])
        content: JSON = {"photo": [self._photo_size_json(stored_file)]}
        if caption:
            content["caption"] = caption
            found = find_entities(caption)
            if found:
                content["caption_entities"] = found
        return self._user_message(user_id, chat_id, message_thread_id, None, content).json

    async def user_sends_document(
        self,
        user_id: int,
        data: bytes,
        file_name: str = "file.txt",
        mime_type: str = "text/plain",
        chat_id: int | None = None,
        *,
        caption: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSON:
        stored_file = self._store_file(data, "document", mime_type=mime_type, file_name=file_name)
        content: JSON = {"document": self._document_json(stored_file)}
        if caption:
            content["caption"] = caption
        return self._user_message(user_id, chat_id, message_thread_id, None, content).json

    async def user_sends_sticker(
        self, user_id: int, emoji: str = "👍", chat_id: int | None = None, *, message_thread_id: int | None = None
    ) -> JSON:
        data = b"RIFF\x1a\x00\x00\x00WEBPVP8X\n\x00\x00\x00\x00\x00\x00\x00\xff\x01\x00\xff\x01\x00"
        stored_file = self._store_file(data, "sticker", mime_type="image/webp", width=512, height=512)
        sticker: JSON = {
            "file_id": stored_file.file_id,
            "file_unique_id": stored_file.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(data),
        }
        return self._user_message(user_id, chat_id, message_thread_id, None, {"sticker": sticker}).json

    async def user_shares_location(
        self,
        user_id: int,
        latitude: float,
        longitude: float,
        chat_id: int | None = None,
        *,
        live_period: int | None = None,
        message_thread_id: int | None = None,
    ) -> JSON:
        location: JSON = {"latitude": latitude, "longitude": longitude}
        if live_period:
            location["live_period"] = live_period
        return self._user_message(user_id, chat_id, message_thread_id, None, {"location": location}).json

    async def user_edits_message(self, user_id: int, message_id: int, text: str, chat_id: int | None = None) -> JSON:
        chat_id = chat_id if chat_id is not None else user_id
        stored = self._chat(chat_id).messages.get(message_id)
        if stored is None or stored.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        if stored.from_bot or stored.json.get("from", {}).get("id") != user_id:
            raise ValueError("users can only edit their own messages")
        if "text" not in stored.json:
            raise ValueError("only text messages can be edited here")
        stored.history.append(_copy(stored.json))
        stored.json["text"] = text
        found = find_entities(text)
        if found:
            stored.json["entities"] = found
        else:
            stored.json.pop("entities", None)
        stored.json["edit_date"] = int(time.time())
        user = self._user(user_id)
        if self._bot_sees(chat_id, stored, user):
            self._queue_update("edited_message", _copy(stored.json), MESSAGE_UPDATE_TTL)
        self._notify()
        return stored.json

    async def user_reacts(self, user_id: int, message_id: int, emoji: str | None, chat_id: int | None = None) -> None:
        """The user sets (or, with ``emoji=None``, removes) a reaction; needs ``message_reaction`` allowed."""
        chat_id = chat_id if chat_id is not None else user_id
        user = self._user(user_id)
        stored = self._chat(chat_id).messages.get(message_id)
        if stored is None or stored.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        old = stored.user_reactions.get(user_id, [])
        new = [{"type": "emoji", "emoji": emoji}] if emoji else []
        stored.user_reactions[user_id] = new
        group = self.groups.get(chat_id)
        sees = group is None or group.bot_status == "administrator"
        if sees:
            chat_json = user.chat_json() if group is None else group.chat_json()
            self._queue_update(
                "message_reaction",
                {
                    "chat": chat_json,
                    "message_id": message_id,
                    "user": user.to_json(),
                    "date": int(time.time()),
                    "old_reaction": old,
                    "new_reaction": new,
                },
                MESSAGE_UPDATE_TTL,
            )
        self._notify()

    async def user_presses_button(
        self,
        user_id: int,
        message: StoredMessage | JSON | int,
        callback_data: str,
        *,
        chat_id: int | None = None,
        force: bool = False,
    ) -> JSON:
        """Press an inline button of a bot message. Like a real client, refuses data that is not on
        the message's current keyboard unless ``force=True`` (for forged-callback tests)."""
        if isinstance(message, StoredMessage):
            chat_id, message_id = message.chat_id, message.message_id
        elif isinstance(message, dict):
            chat_id, message_id = int(message["chat"]["id"]), int(message["message_id"])
        else:
            chat_id, message_id = (chat_id if chat_id is not None else user_id), message
        user = self._user(user_id)
        chat = self._chat(chat_id)
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id} to press a button on")
        if chat_id == user_id:
            if user.blocked:
                raise ValueError("the user has blocked the bot")
        elif chat_id in self.groups:
            self._member(self.groups[chat_id], user_id)
        else:
            raise ValueError(f"user {user_id} cannot see chat {chat_id}")
        if not force:
            if not stored.from_bot:
                raise ValueError("only bot messages have inline keyboards")
            if callback_data not in stored.callback_data():
                raise ValueError(
                    f"message {message_id} has no button with callback_data {callback_data!r}; "
                    f"its buttons: {stored.callback_data()}"
                )
        query_id = str(self._rng.getrandbits(63))
        query: JSON = {
            "id": query_id,
            "from": user.to_json(),
            "message": _copy(stored.json),
            "chat_instance": chat.chat_instance,
            "data": callback_data,
        }
        self._callback_queries[query_id] = CallbackQueryState(
            query_id, user_id, chat_id, message_id, callback_data, time.monotonic()
        )
        group = self.groups.get(chat_id)
        if group is None or group.bot_status in ("member", "administrator"):
            self._queue_update("callback_query", query, CALLBACK_UPDATE_TTL)
        self._notify()
        return query

    # ---------------------------------------------------------------------------------------------
    # Test-side fault injection
    # ---------------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        chat_id: int | str | None = None,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` (for ``chat_id``, if given) fail without effect."""
        fault = Fault(
            method.lower(),
            times,
            None if chat_id is None else str(chat_id),
            "error",
            error_code,
            description,
            retry_after,
        )
        self._faults.append(fault)
        return fault

    def ambiguous_next(
        self,
        method: str,
        times: int = 1,
        *,
        chat_id: int | str | None = None,
        mode: Literal["hang", "drop"] = "hang",
        hold_seconds: float | None = None,
    ) -> Fault:
        """The next ``times`` calls are *performed* (a send is recorded) but never answered: the
        connection is held until the client gives up (``hang``) or closed without a response (``drop``)."""
        fault = Fault(
            method.lower(),
            times,
            None if chat_id is None else str(chat_id),
            mode,
            hold_seconds=hold_seconds if hold_seconds is not None else self.hang_seconds,
        )
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    def pause_updates(self) -> None:
        """getUpdates answers as if no update were pending (long polls wait) until resumed."""
        self.updates_paused = True

    def resume_updates(self) -> None:
        self.updates_paused = False
        self._notify()

    # ---------------------------------------------------------------------------------------------
    # Test-side inspection
    # ---------------------------------------------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None, *, include_deleted: bool = True) -> list[StoredMessage]:
        """The bot's messages, in the order they were sent."""
        chats = [self._chats[chat_id]] if chat_id is not None and chat_id in self._chats else []
        if chat_id is None:
            chats = list(self._chats.values())
        result = [
            m for chat in chats for m in chat.messages.values() if m.from_bot and (include_deleted or not m.deleted)
        ]
        return sorted(result, key=lambda m: (m.sent_at, m.chat_id, m.message_id))

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        stored = self._chats.get(chat_id, _ChatState(chat_id)).messages.get(message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return stored

    def last_message(self, chat_id: int) -> StoredMessage | None:
        sent = self.sent_messages(chat_id)
        return sent[-1] if sent else None

    def file_bytes(self, file_id: str) -> bytes:
        """The content of a stored file (what downloading it through getFile returns)."""
        return self._files[file_id].data

    def calls(self, method: str) -> list[ApiRequest]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def last_error(self, method: str | None = None) -> JSON:
        """The last error body answered (for ``method``, if given): exact ``description`` and all."""
        for request in reversed(self.requests):
            if method is not None and request.method.lower() != method.lower():
                continue
            if request.response is not None and not request.response.get("ok"):
                return request.response
        raise AssertionError(f"no error was answered{'' if method is None else ' to ' + method}")

    def topics(self, chat_id: int) -> dict[int, ForumTopic]:
        return self._group(chat_id).topics

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by an offset."""
        self._expire_updates()
        return [u.to_json() for u in self._updates]

    def commands_for(self, scope: str | JSON | tuple[Any, ...] = "default", language_code: str = "") -> list[JSON]:
        """The commands set for exactly this scope and language (what getMyCommands returns)."""
        if isinstance(scope, str):
            key: tuple[Any, ...] = (scope,)
        elif isinstance(scope, dict):
            key = (scope["type"],)
            if "chat_id" in scope:
                key += (int(scope["chat_id"]),)
            if "user_id" in scope:
                key += (int(scope["user_id"]),)
        else:
            key = scope
        return [dict(c) for c in self.commands_store.get((key, language_code), [])]

    def commands_seen_by(self, user_id: int, chat_id: int | None = None) -> list[JSON]:
        """The command list a Telegram client shows the user in the chat, resolved as the Bot API
        docs describe ("Determining list of commands")."""
        user = self._user(user_id)
        lang = (user.language_code or "")[:2]
        chat_id = chat_id if chat_id is not None else user_id
        candidates: list[tuple[Any, ...]]
        if chat_id == user_id:
            candidates = [("chat", chat_id), ("all_private_chats",), ("default",)]
        else:
            group = self._group(chat_id)
            is_admin = user_id in group.admins
            candidates = [("chat_member", chat_id, user_id)]
            if is_admin:
                candidates.append(("chat_administrators", chat_id))
            candidates.append(("chat", chat_id))
            if is_admin:
                candidates.append(("all_chat_administrators",))
            candidates += [("all_group_chats",), ("default",)]
        for key in candidates:
            for language in (lang, "") if lang else ("",):
                commands = self.commands_store.get((key, language))
                if commands:
                    return [dict(c) for c in commands]
        return []

    def max_in_window(self, chat_id: int | None, window: float) -> int:
        """The largest number of successful sends to ``chat_id`` (all chats if None) that fell within
        any sliding window of ``window`` seconds."""
        times = [r.at for r in self.send_log if chat_id is None or r.chat_id == chat_id]
        best = 0
        start = 0
        for end, t in enumerate(times):
            while times[start] <= t - window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def max_rate_per_chat(self, window: float) -> dict[int, int]:
        return {chat_id: self.max_in_window(chat_id, window) for chat_id in {r.chat_id for r in self.send_log}}

    def rate_violations(self) -> list[str]:
        """Where the send log exceeds the configured limits (empty when the bot paced itself)."""
        problems: list[str] = []
        for chat_id in sorted({r.chat_id for r in self.send_log}):
            limit = self.rate_limits.private if chat_id > 0 else self.rate_limits.group
            if limit is not None:
                seen = self.max_in_window(chat_id, limit.per_seconds)
                if seen > limit.max_messages:
                    problems.append(f"chat {chat_id}: {seen} sends within {limit.per_seconds}s")
        limit = self.rate_limits.global_
        if limit is not None:
            seen = self.max_in_window(None, limit.per_seconds)
            if seen > limit.max_messages:
                problems.append(f"all chats: {seen} sends within {limit.per_seconds}s")
        return problems

    def assert_rate_limits_respected(self) -> None:
        problems = self.rate_violations()
        if problems:
            raise AssertionError("rate limits exceeded: " + "; ".join(problems))

    # ---------------------------------------------------------------------------------------------
    # Internals: lookups and access rules
    # ---------------------------------------------------------------------------------------------

    def _user(self, user_id: int) -> FakeUser:
        user = self.users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id}: add_user it first")
        return user

    def _group(self, chat_id: int) -> FakeGroup:
        group = self.groups.get(chat_id)
        if group is None:
            raise ValueError(f"unknown group {chat_id}: add_group it first")
        return group

    def _member(self, group: FakeGroup, user_id: int) -> FakeUser:
        user = self._user(user_id)
        if user_id not in group.members:
            raise ValueError(f"user {user_id} is not a member of {group.id}")
        return user

    def _chat(self, chat_id: int) -> _ChatState:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _ChatState(chat_id)
        return chat

    def _chat_json(self, chat_id: int) -> JSON:
        if chat_id in self.users:
            return self.users[chat_id].chat_json()
        return self.groups[chat_id].chat_json()

    def _resolve_chat(self, raw: str | None) -> int:
        value = (raw or "").strip()
        if not value:
            raise bad_request("chat_id is empty")
        if value.startswith("@"):
            for group in self.groups.values():
                if group.username and group.username.lower() == value[1:].lower():
                    return group.id
            raise bad_request("chat not found")
        if not re.fullmatch(r"-?[0-9]+", value):
            raise bad_request("chat not found")
        chat_id = int(value)
        if chat_id in self.users or chat_id in self.groups:
            return chat_id
        raise bad_request("chat not found")

    def _group_kind(self, group: FakeGroup) -> str:
        return "supergroup" if group.type == "supergroup" else "group"

    def _check_can_read(self, chat_id: int) -> None:
        """The bot can see the chat (getChat and friends)."""
        user = self.users.get(chat_id)
        if user is not None:
            shares_group = any(
                chat_id in g.members and g.bot_status in ("member", "administrator") for g in self.groups.values()
            )
            if not (user.started or shares_group):
                raise bad_request("chat not found")
            return
        group = self.groups[chat_id]
        if group.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {self._group_kind(group)} chat")
        if group.bot_status == "left":
            raise forbidden(f"bot is not a member of the {self._group_kind(group)} chat")

    def _check_can_write(self, chat_id: int) -> None:
        user = self.users.get(chat_id)
        if user is not None:
            if user.is_bot:
                raise forbidden("bot can't send messages to bots")
            if user.deactivated:
                raise forbidden("user is deactivated")
            if user.blocked:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        self._check_can_read(chat_id)

    def _bot_is_topic_admin(self, group: FakeGroup) -> bool:
        return group.bot_status == "administrator" and group.bot_can_manage_topics

    def _check_thread(self, chat_id: int, thread_id: int) -> ForumTopic | None:
        if thread_id <= 0:
            return None
        group = self.groups.get(chat_id)
        topic = group.topics.get(thread_id) if group is not None and group.is_forum else None
        if group is None or topic is None:
            raise bad_request("message thread not found")
        if topic.is_closed and not self._bot_is_topic_admin(group):
            raise bad_request("TOPIC_CLOSED")
        return topic

    def _reply_target(self, params: Mapping[str, str], chat_id: int) -> StoredMessage | None:
        if "reply_parameters" in params:
            raw = params["reply_parameters"]
            if not raw:
                return None
            value = _json_arg(raw, "reply parameters")
            if not isinstance(value, dict):
                raise bad_request("Object expected as reply parameters")
            if not value:
                return None
            if "message_id" not in value:
                raise bad_request('Can\'t find field "message_id"')
            if not isinstance(value["message_id"], int):
                raise bad_request(_field_error("message_id", "Number"))
            message_id = value["message_id"]
            allow_without = bool(value.get("allow_sending_without_reply"))
            target_chat = chat_id
            if value.get("chat_id") not in (None, ""):
                target_chat = self._resolve_chat(str(value["chat_id"]))
        else:
            message_id = _to_int(params.get("reply_to_message_id"))
            allow_without = _to_bool(params.get("allow_sending_without_reply"))
            target_chat = chat_id
        if message_id <= 0:
            return None
        target = self._chat(target_chat).messages.get(message_id)
        if target is None or target.deleted:
            if allow_without:
                return None
            raise bad_request("message to be replied not found")
        return target

    # ---------------------------------------------------------------------------------------------
    # Internals: text and reply markup
    # ---------------------------------------------------------------------------------------------

    def _formatted(self, text: str, parse_mode: str | None, entities_raw: str | None) -> tuple[str, list[JSON]]:
        if len(text.encode("utf-8")) > (1 << 15):
            raise bad_request("Text is too long")
        mode = (parse_mode or "").lower()
        if text and mode and mode != "none":
            parser = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}.get(mode)
            if parser is None:
                raise bad_request("Unsupported parse_mode")
            try:
                return parser(text)
            except EntityParseError as exc:
                raise bad_request(f"Can't parse entities: {exc}") from None
        entities: list[JSON] = []
        if entities_raw:
            try:
                value = json.loads(entities_raw)
            except ValueError:
                value = None
            if isinstance(value, list):
                for item in value:
                    entities.extend(self._explicit_entity(item))
        return text, _sort_entities(entities)

    def _explicit_entity(self, item: Any) -> list[JSON]:
        def fail(why: str) -> ApiError:
            return bad_request(f"Can't parse MessageEntity: {why}")

        if not isinstance(item, dict):
            raise fail("expected an Object")
        for name in ("offset", "length"):
            if name not in item:
                raise fail(f'Can\'t find field "{name}"')
            if not isinstance(item[name], int):
                raise fail(_field_error(name, "Number"))
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            raise fail("Type is not specified")
        auto = ("mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bank_card_number")
        if kind in auto:
            return []  # recomputed by the server
        known = (
            "bold",
            "italic",
            "underline",
            "strikethrough",
            "spoiler",
            "code",
            "pre",
            "text_link",
            "text_mention",
            "custom_emoji",
            "blockquote",
            "expandable_blockquote",
        )
        if kind not in known:
            raise fail("Unsupported type specified")
        entity: JSON = {"type": kind, "offset": item["offset"], "length": item["length"]}
        for extra in ("url", "language", "custom_emoji_id", "user"):
            if extra in item:
                entity[extra] = item[extra]
        if kind == "text_link" and not isinstance(item.get("url"), str):
            raise fail('Can\'t find field "url"')
        return [entity]

    def _finish_text(
        self, text: str, entities: list[JSON], limit: int, too_long: ApiError, allow_empty: bool = False
    ) -> tuple[str, list[JSON]]:
        text, entities = _trim(text, entities)
        if not text and not allow_empty:
            raise bad_request("Message must be non-empty")
        if utf16_len(text) > limit:
            raise too_long
        return text, _merge_entities(entities, find_entities(text))

    def _parse_reply_markup(self, raw: str | None) -> JSON | None:
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise bad_request("Can't parse reply keyboard markup JSON object") from None
        if not isinstance(value, dict):
            raise bad_request("Object expected as reply markup")
        keyboard = value.get("keyboard")
        if keyboard is not None:
            if not isinstance(keyboard, list):
                raise bad_request(_field_error("keyboard", "Array"))
            for row in keyboard:
                if not isinstance(row, list):
                    raise bad_request('Field "keyboard" must be an Array of Arrays')
                for button in row:
                    if isinstance(button, dict):
                        if not isinstance(button.get("text"), str):
                            raise bad_request("Can't parse keyboard button: Can't find field \"text\"")
                    elif not isinstance(button, str):
                        raise bad_request("Can't parse keyboard button: KeyboardButton must be a String or an Object")
        inline = value.get("inline_keyboard")
        if inline is not None:
            if not isinstance(inline, list):
                raise bad_request(_field_error("inline_keyboard", "Array"))
            for row in inline:
                if not isinstance(row, list):
                    raise bad_request('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
                for button in row:
                    problem = self._inline_button_problem(button)
                    if problem:
                        raise bad_request(f"Can't parse inline keyboard button: {problem}")
        if keyboard and any(keyboard):
            return {k: v for k, v in value.items() if k != "inline_keyboard"}
        if inline and any(inline):
            return {"inline_keyboard": [list(row) for row in inline]}
        if value.get("remove_keyboard") or value.get("hide_keyboard"):
            return {k: v for k, v in value.items() if k in ("remove_keyboard", "hide_keyboard", "selective")}
        if value.get("force_reply") or value.get("force_reply_keyboard"):
            return {
                k: v
                for k, v in value.items()
                if k in ("force_reply", "force_reply_keyboard", "selective", "input_field_placeholder")
            }
        return None

    @staticmethod
    def _inline_button_problem(button: Any) -> str | None:
        if not isinstance(button, dict):
            return "InlineKeyboardButton must be an Object"
        if "text" not in button:
            return 'Can\'t find field "text"'
        if not isinstance(button["text"], str):
            return _field_error("text", "String")
        for name in ("url", "callback_data"):
            value = button.get(name)
            if value is not None and not isinstance(value, str):
                return _field_error(name, "String")
            if value:
                return None
        actions = (
            "callback_game",
            "pay",
            "switch_inline_query",
            "switch_inline_query_chosen_chat",
            "switch_inline_query_current_chat",
            "login_url",
            "web_app",
            "copy_text",
        )
        if any(name in button for name in actions):
            return None
        return "Text buttons are unallowed in the inline keyboard"

    @staticmethod
    def _check_markup_server_side(markup: JSON | None) -> None:
        """Checks Telegram's servers make (after the Bot API server accepted the JSON)."""
        if not markup:
            return
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if isinstance(data, str) and data and len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if isinstance(url, str) and url and _checked_url(url) is None:
                    raise bad_request("BUTTON_URL_INVALID")

    # ---------------------------------------------------------------------------------------------
    # Internals: messages, files, updates
    # ---------------------------------------------------------------------------------------------

    def _new_message(
        self,
        chat_id: int,
        *,
        sender: FakeUser | None,
        content: JSON,
        topic: ForumTopic | None = None,
        reply_to: StoredMessage | None = None,
        markup: JSON | None = None,
        method: str = "",
    ) -> StoredMessage:
        chat = self._chat(chat_id)
        message_id = chat.new_message_id()
        message: JSON = {
            "message_id": message_id,
            "from": self.bot_json() if sender is None else sender.to_json(),
            "chat": self._chat_json(chat_id),
            "date": int(time.time()),
        }
        if topic is not None:
            message["message_thread_id"] = topic.message_thread_id
            message["is_topic_message"] = True
            if reply_to is None:
                # In forums the Bot API presents topic messages as replies to the topic's creation.
                reply_to = chat.messages.get(topic.message_thread_id)
        if reply_to is not None:
            replied = _copy(reply_to.json)
            replied.pop("reply_to_message", None)
            message["reply_to_message"] = replied
        message.update(content)
        inline = _inline_only(markup)
        if inline is not None:
            message["reply_markup"] = inline
        stored = StoredMessage(chat_id, message_id, sender is None, message, time.monotonic(), method, markup)
        chat.messages[message_id] = stored
        return stored

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        message_thread_id: int | None,
        reply_to_message_id: int | None,
        content: JSON,
    ) -> StoredMessage:
        user = self._user(user_id)
        chat_id = chat_id if chat_id is not None else user_id
        topic: ForumTopic | None = None
        if chat_id == user_id:
            if user.blocked:
                raise ValueError(f"user {user_id} has blocked the bot: call user_unblocks_bot first")
            user.started = True
            if message_thread_id:
                raise ValueError("private chats have no topics here")
        else:
            group = self._group(chat_id)
            self._member(group, user_id)
            if message_thread_id:
                topic = group.topics.get(message_thread_id) if group.is_forum else None
                if topic is None:
                    raise ValueError(f"no topic {message_thread_id} in {chat_id}")
                if topic.is_closed and user_id not in group.admins:
                    raise ValueError("the topic is closed")
        reply_to = None
        if reply_to_message_id:
            reply_to = self._chat(chat_id).messages.get(reply_to_message_id)
            if reply_to is None or reply_to.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
        stored = self._new_message(chat_id, sender=user, content=content, topic=topic, reply_to=reply_to)
        if self._bot_sees(chat_id, stored, user):
            self._queue_update("message", _copy(stored.json), MESSAGE_UPDATE_TTL)
        self._notify()
        return stored

    def _bot_sees(self, chat_id: int, stored: StoredMessage, user: FakeUser) -> bool:
        """Telegram's privacy mode: what a bot receives from groups."""
        group = self.groups.get(chat_id)
        if group is None:
            return True
        if group.bot_status not in ("member", "administrator"):
            return False
        if group.bot_status == "administrator" or not self.privacy_mode:
            return True
        reply = stored.json.get("reply_to_message")
        if (
            isinstance(reply, dict)
            and reply.get("from", {}).get("id") == self.bot_id
            and "forum_topic_created" not in reply
        ):
            return True
        text = stored.json.get("text") or stored.json.get("caption") or ""
        entities = stored.json.get("entities") or stored.json.get("caption_entities") or []
        me = self.bot_username.lower()
        for entity in entities:
            value = text.encode("utf-16-le")[entity["offset"] * 2 : (entity["offset"] + entity["length"]) * 2]
            piece = value.decode("utf-16-le").lower()
            if entity["type"] == "bot_command":
                _, _, target = piece.partition("@")
                if not target or target == me:
                    return True
            if entity["type"] == "mention" and piece == "@" + me:
                return True
        return False

    def _store_file(
        self,
        data: bytes,
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        prefixes = {"photo": b"\x02\x00", "document": b"\x05\x00", "sticker": b"\x08\x00"}
        file_id = _random_file_id(self._rng, b"\x01" + prefixes.get(kind, b"\x05\x00"), 48)
        unique_id = _random_file_id(self._rng, b"AQAD", 8)
        folder = {"photo": "photos", "sticker": "stickers"}.get(kind, "documents")
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        elif kind == "photo":
            extension = ".jpg"
        elif kind == "sticker":
            extension = ".webp"
        path = f"{folder}/file_{len(self._files)}{extension}"
        stored = StoredFile(file_id, unique_id, data, path, kind, mime_type, file_name, width, height)
        self._files[file_id] = stored
        self._files_by_path[path] = stored
        return stored

    @staticmethod
    def _photo_size_json(stored: StoredFile) -> JSON:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 0,
            "height": stored.height or 0,
            "file_size": len(stored.data),
        }

    @staticmethod
    def _document_json(stored: StoredFile) -> JSON:
        data: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": len(stored.data)}
        if stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    def _queue_update(self, kind: str, payload: JSON, ttl: float) -> int | None:
        if kind not in self.allowed_updates:
            return None
        update = _QueuedUpdate(self._next_update_id, kind, payload, time.monotonic() + ttl)
        self._next_update_id += 1
        self._updates.append(update)
        self._notify()
        return update.update_id

    def _queue_my_chat_member(self, chat: JSON, user: FakeUser | None, old: str, new: str) -> None:
        actor = user.to_json() if user is not None else {"id": 777000, "is_bot": False, "first_name": "Telegram"}
        bot = self.bot_json()

        def member(status: str) -> JSON:
            data: JSON = {"user": bot, "status": status}
            if status == "kicked":
                data["until_date"] = 0
            if status == "administrator":
                data.update(self._admin_rights(True))
            return data

        self._queue_update(
            "my_chat_member",
            {
                "chat": chat,
                "from": actor,
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
            MESSAGE_UPDATE_TTL,
        )

    @staticmethod
    def _admin_rights(can_manage_topics: bool) -> JSON:
        return {
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": True,
            "can_restrict_members": True,
            "can_promote_members": False,
            "can_change_info": True,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_pin_messages": True,
            "can_manage_topics": can_manage_topics,
        }

    def _expire_updates(self) -> None:
        now = time.monotonic()
        if any(u.expires_at <= now for u in self._updates):
            self._updates = [u for u in self._updates if u.expires_at > now]

    def _confirm(self, offset: int) -> int:
        """Apply an offset like TQueue::get with forget_previous; return the first id to return."""
        self._expire_updates()
        tail = self._next_update_id
        head = self._updates[0].update_id if self._updates else tail
        if offset < 0:
            keep = -offset
            if len(self._updates) > keep:
                self._updates = self._updates[-keep:]
            head = self._updates[0].update_id if self._updates else tail
            self.last_confirmed_offset = head
            return head
        if offset == 0:
            return head
        if offset > tail + 10:
            return head  # "Specified from_id is in the future": answered from the head, nothing forgotten
        self._updates = [u for u in self._updates if u.update_id >= offset]
        self.last_confirmed_offset = offset
        return offset

    def _collect(self, from_id: int, limit: int) -> list[JSON]:
        if self.updates_paused:
            return []
        self._expire_updates()
        return [u.to_json() for u in self._updates if u.update_id >= from_id][:limit]

    def _set_allowed_updates(self, raw: str) -> None:
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return
        chosen = frozenset(v.lower() for v in value) & frozenset(UPDATE_TYPES)
        self.allowed_updates = chosen or DEFAULT_ALLOWED_UPDATES

    # ---------------------------------------------------------------------------------------------
    # Internals: flood control
    # ---------------------------------------------------------------------------------------------

    def _chat_limit(self, chat_id: int) -> RateLimit | None:
        return self.rate_limits.private if chat_id > 0 else self.rate_limits.group

    def _check_rate(self, chat_id: int) -> None:
        now = time.monotonic()
        checks: list[tuple[list[float], RateLimit | None]] = [
            (self._recent.setdefault(chat_id, []), self._chat_limit(chat_id)),
            (self._recent_global, self.rate_limits.global_),
        ]
        for times, limit in checks:
            if limit is None:
                continue
            while times and times[0] <= now - limit.per_seconds:
                times.pop(0)
            if len(times) >= limit.max_messages:
                retry_after = max(1, math.ceil(times[0] + limit.per_seconds - now))
                self.rate_limited.append((chat_id, now, retry_after))
                raise too_many_requests(retry_after)

    def _record_send(self, stored: StoredMessage, method: str) -> None:
        now = stored.sent_at
        self._recent.setdefault(stored.chat_id, []).append(now)
        self._recent_global.append(now)
        self.send_log.append(SendRecord(stored.chat_id, stored.message_id, method, now))

    # ---------------------------------------------------------------------------------------------
    # HTTP layer
    # ---------------------------------------------------------------------------------------------

    @staticmethod
    def _json_response(body: JSON, status: int = 200) -> web.Response:
        return web.Response(status=status, text=json.dumps(body, ensure_ascii=False), content_type="application/json")

    async def _read_params(self, request: web.Request) -> tuple[dict[str, str], dict[str, Upload]]:
        params: dict[str, str] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                body = {}
            if isinstance(body, dict):
                for key, value in body.items():
                    if value is None:
                        continue
                    params[key] = value if isinstance(value, str) else json.dumps(value)
            return params, files
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, web.FileField):
                files[key] = Upload(value.filename, value.content_type, value.file.read())
        return params, files

    def _take_fault(self, method: str, params: Mapping[str, str]) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, params):
                fault.remaining -= 1
                return fault
        return None

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        method = method_name.lower()
        if token != self.token:
            error = ApiError(401, "Unauthorized") if _TOKEN_FORMAT.match(token) else ApiError(404, "Not Found")
            rejected = ApiRequest(method_name, dict(request.query), [], time.monotonic(), error.error_code)
            rejected.response = error.to_json()
            self.requests.append(rejected)
            self._notify()
            return self._json_response(error.to_json(), error.error_code)
        try:
            params, files = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return self._json_response(ApiError(413, "Request Entity Too Large").to_json(), 413)
        record = ApiRequest(method_name, params, sorted(files), time.monotonic())
        self.requests.append(record)
        self._notify()
        handler = self._methods.get(method)
        if handler is None:
            record.status = 404
            record.response = ApiError(404, "Not Found").to_json()
            return self._json_response(ApiError(404, "Not Found").to_json(), 404)
        fault = self._take_fault(method, params)
        body: JSON
        if fault is not None and fault.mode == "error":
            error = fault.error()
            body, status = error.to_json(), error.error_code
        else:
            try:
                result = await handler(params, files)
                body, status = {"ok": True, "result": result}, 200
                if method == "deletewebhook":
                    body["description"] = "Webhook is already deleted"
            except ApiError as error:
                body, status = error.to_json(), error.error_code
        record.status = status
        if fault is None or fault.mode == "error":
            record.response = body
        self._notify()
        if fault is not None and fault.mode == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.hold_seconds)
        elif fault is not None and fault.mode == "drop":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        return self._json_response(body, status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return self._json_response(ApiError(404, "Not Found").to_json(), 404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    # ---------------------------------------------------------------------------------------------
    # Bot API methods
    # ---------------------------------------------------------------------------------------------

    async def _m_getme(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        return {
            **self.bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_deletewebhook(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        if _to_bool(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        self._expire_updates()
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _m_getupdates(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        self.get_updates_calls += 1
        offset = _to_int(params.get("offset"))
        limit = min(max(_to_int(params.get("limit"), 100), 1), 100)
        timeout = min(max(_to_int(params.get("timeout"), 0), 0), LONG_POLL_MAX_TIMEOUT)
        self.last_offset = offset if params.get("offset") else None
        if "allowed_updates" in params:
            self._set_allowed_updates(params["allowed_updates"])
        if self._poll is not None:  # only one getUpdates at a time: the older one is terminated
            self._poll.terminated = True
            self._poll = None
            self._notify()
        from_id = self._confirm(offset)
        updates = self._collect(from_id, limit)
        if updates or timeout == 0 or self._closing.is_set():
            return self._deliver(updates)
        poll = self._poll = _Poll()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if poll.terminated:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot "
                        "instance is running",
                    )
                if self._closing.is_set():
                    return []
                if self._collect(from_id, limit):
                    await asyncio.sleep(0.001)  # LONG_POLL_WAIT_AFTER: let a burst arrive together
                    return self._deliver(self._collect(from_id, limit))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                await self._wait_change(remaining)
        finally:
            if self._poll is poll:
                self._poll = None

    def _deliver(self, updates: list[JSON]) -> list[JSON]:
        self.delivered_update_ids.extend(int(u["update_id"]) for u in updates)
        return updates

    async def _m_sendmessage(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        text = params.get("text", "")
        if not text:
            raise bad_request("Message text is empty")
        text, entities = self._formatted(text, params.get("parse_mode"), params.get("entities"))
        markup = self._parse_reply_markup(params.get("reply_markup"))
        chat_id = self._resolve_chat(params.get("chat_id"))
        topic = self._check_thread(chat_id, _to_int(params.get("message_thread_id")))
        reply_to = self._reply_target(params, chat_id)
        text, entities = self._finish_text(text, entities, MAX_MESSAGE_LENGTH, bad_request("message is too long"))
        self._check_can_write(chat_id)
        self._check_markup_server_side(markup)
        self._check_rate(chat_id)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        stored = self._new_message(
            chat_id, sender=None, content=content, topic=topic, reply_to=reply_to, markup=markup, method="sendMessage"
        )
        self._record_send(stored, "sendMessage")
        return stored.json

    def _message_to_edit(self, params: Mapping[str, str]) -> StoredMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._resolve_chat(params.get("chat_id"))
        stored = self._chat(chat_id).messages.get(_to_int(params.get("message_id")))
        if stored is None or stored.deleted:
            raise bad_request("message to edit not found")
        self._check_can_write(chat_id)
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _apply_edit(self, stored: StoredMessage, changes: JSON, markup: JSON | None, method: str) -> JSON:
        if self.rate_limits.count_edits:
            self._check_rate(stored.chat_id)
        stored.history.append(_copy(stored.json))
        for key, value in changes.items():
            if value is None:
                stored.json.pop(key, None)
            else:
                stored.json[key] = value
        inline = _inline_only(markup)
        if inline is None:
            stored.json.pop("reply_markup", None)
        else:
            stored.json["reply_markup"] = inline
        stored.markup = inline
        stored.json["edit_date"] = int(time.time())
        if self.rate_limits.count_edits:
            now = time.monotonic()
            self._recent.setdefault(stored.chat_id, []).append(now)
            self._recent_global.append(now)
            self.send_log.append(SendRecord(stored.chat_id, stored.message_id, method, now))
        return stored.json

    async def _m_editmessagetext(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        text = params.get("text", "")
        if not text:
            raise bad_request("Message text is empty")
        text, entities = self._formatted(text, params.get("parse_mode"), params.get("entities"))
        markup = self._parse_reply_markup(params.get("reply_markup"))
        stored = self._message_to_edit(params)
        if "text" not in stored.json:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._finish_text(text, entities, MAX_MESSAGE_LENGTH, bad_request("MESSAGE_TOO_LONG"))
        self._check_markup_server_side(markup)
        if (
            text == stored.json.get("text")
            and entities == stored.json.get("entities", [])
            and _inline_only(markup) == _inline_only(stored.markup)
        ):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(stored, {"text": text, "entities": entities or None}, markup, "editMessageText")

    async def _m_editmessagecaption(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        caption, entities = self._formatted(
            params.get("caption", ""), params.get("parse_mode"), params.get("caption_entities")
        )
        markup = self._parse_reply_markup(params.get("reply_markup"))
        stored = self._message_to_edit(params)
        if "text" in stored.json:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._finish_text(
            caption, entities, MAX_CAPTION_LENGTH, bad_request("message caption is too long"), allow_empty=True
        )
        self._check_markup_server_side(markup)
        if (
            caption == stored.json.get("caption", "")
            and entities == stored.json.get("caption_entities", [])
            and _inline_only(markup) == _inline_only(stored.markup)
        ):
            raise bad_request(NOT_MODIFIED)
        changes: JSON = {"caption": caption or None, "caption_entities": entities or None}
        return self._apply_edit(stored, changes, markup, "editMessageCaption")

    async def _m_editmessagereplymarkup(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        markup = self._parse_reply_markup(params.get("reply_markup"))
        stored = self._message_to_edit(params)
        self._check_markup_server_side(markup)
        if _inline_only(markup) == _inline_only(stored.markup):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(stored, {}, markup, "editMessageReplyMarkup")

    async def _m_deletemessage(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        chat_id = self._resolve_chat(params.get("chat_id"))
        stored = self._chat(chat_id).messages.get(_to_int(params.get("message_id")))
        if stored is None or stored.deleted:
            raise bad_request("message to delete not found")
        group = self.groups.get(chat_id)
        if group is not None:
            self._check_can_read(chat_id)
            may_delete_others = group.bot_status == "administrator" and group.bot_can_delete_messages
            if not stored.from_bot and not may_delete_others:
                raise bad_request("message can't be deleted")
        if time.monotonic() - stored.sent_at > 48 * 3600 and (group is None or not stored.from_bot):
            raise bad_request("message can't be deleted")
        stored.deleted = True
        stored.deleted_at = time.monotonic()
        return True

    async def _m_answercallbackquery(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        query_id = params.get("callback_query_id", "")
        state = self._callback_queries.get(query_id)
        now = time.monotonic()
        if state is None or state.answered or now - state.created_at > self.callback_answer_timeout:
            raise bad_request(QUERY_ID_INVALID)
        text = params.get("text") or None
        if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        state.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                query_id,
                text,
                _to_bool(params.get("show_alert")),
                params.get("url") or None,
                _to_int(params.get("cache_time")),
                now,
                now - state.created_at,
            )
        )
        return True

    def _parse_scope(self, raw: str | None) -> tuple[Any, ...]:
        if not raw:
            return ("default",)
        value = _json_arg(raw, "BotCommandScope")

        def fail(why: str) -> ApiError:
            return bad_request(f"Can't parse BotCommandScope: {why}")

        if not isinstance(value, dict):
            raise fail("BotCommandScope must be an Object")
        kind = value.get("type")
        if kind is None:
            raise fail('Can\'t find field "type"')
        if not isinstance(kind, str):
            raise fail(_field_error("type", "String"))
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return (kind,)
        if kind not in ("chat", "chat_administrators", "chat_member"):
            raise fail("Unsupported type specified")
        if "chat_id" not in value:
            raise fail('Can\'t find field "chat_id"')
        raw_chat = value["chat_id"]
        if raw_chat in ("", None):
            raise fail("Empty chat_id specified")
        user_id: int | None = None
        if kind == "chat_member":
            if "user_id" not in value:
                raise fail('Can\'t find field "user_id"')
            user_id = value["user_id"]
            if not isinstance(user_id, int) or user_id <= 0:
                raise fail("Invalid user_id specified")
        chat_id = self._resolve_chat(str(raw_chat))
        self._check_can_read(chat_id)
        if kind != "chat" and chat_id not in self.groups:
            raise bad_request("chat not found")  # admin/member scopes only exist in groups
        return (kind, chat_id) if user_id is None else (kind, chat_id, user_id)

    @staticmethod
    def _check_language(params: Mapping[str, str]) -> str:
        code = params.get("language_code", "")
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise bad_request("Invalid language code specified")
        return code

    def _parse_commands(self, raw: str) -> list[JSON]:
        if not raw:
            return []
        value = _json_arg(raw, "commands")
        if not isinstance(value, list):
            raise bad_request("Expected an Array of BotCommand")
        commands: list[JSON] = []
        for item in value:
            problem = None
            if not isinstance(item, dict):
                problem = "expected an Object"
            else:
                for name in ("command", "description"):
                    if name not in item:
                        problem = f'Can\'t find field "{name}"'
                        break
                    if not isinstance(item[name], str):
                        problem = _field_error(name, "String")
                        break
            if problem is not None:
                raise bad_request(f"Can't parse BotCommand: {problem}")
            commands.append({"command": item["command"], "description": item["description"]})
        return commands

    async def _m_setmycommands(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        commands = self._parse_commands(params.get("commands", ""))
        scope = self._parse_scope(params.get("scope"))
        language = self._check_language(params)
        cleaned: list[JSON] = []
        for item in commands:  # tdlib's set_commands checks
            command = item["command"].strip()
            if command.startswith("/"):
                command = command[1:]
            if not command:
                raise bad_request("Command must be non-empty")
            if len(command) > 32:
                raise bad_request("Command length must not exceed 32")
            description = item["description"].strip()
            if not description:
                raise bad_request("Command description must be non-empty")
            if len(description) > 256:
                raise bad_request("Command description length must not exceed 256")
            cleaned.append({"command": command, "description": description})
        for item in cleaned:  # Telegram's servers
            if not _COMMAND_NAME.match(item["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
        if len(cleaned) > MAX_COMMANDS:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        if cleaned:
            self.commands_store[(scope, language)] = cleaned
        else:
            self.commands_store.pop((scope, language), None)
        return True

    async def _m_getmycommands(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        scope = self._parse_scope(params.get("scope"))
        language = self._check_language(params)
        return [dict(c) for c in self.commands_store.get((scope, language), [])]

    async def _m_deletemycommands(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        scope = self._parse_scope(params.get("scope"))
        language = self._check_language(params)
        self.commands_store.pop((scope, language), None)
        return True

    def _forum(self, params: Mapping[str, str]) -> FakeGroup:
        chat_id = self._resolve_chat(params.get("chat_id"))
        self._check_can_read(chat_id)
        group = self.groups.get(chat_id)
        if group is None or not group.is_forum:
            raise bad_request("The chat is not a forum")
        return group

    def _create_topic(
        self, group: FakeGroup, name: str, color: int, emoji_id: str | None, sender: FakeUser | None
    ) -> ForumTopic:
        created: JSON = {"name": name, "icon_color": color}
        if emoji_id:
            created["icon_custom_emoji_id"] = emoji_id
        stored = self._new_message(group.id, sender=sender, content={"forum_topic_created": created})
        stored.json["message_thread_id"] = stored.message_id
        topic = ForumTopic(stored.message_id, name, color, emoji_id, created_by_bot=sender is None)
        group.topics[topic.message_thread_id] = topic
        if sender is not None and group.bot_status in ("member", "administrator"):
            self._queue_update("message", _copy(stored.json), MESSAGE_UPDATE_TTL)
        self._notify()
        return topic

    async def _m_createforumtopic(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        group = self._forum(params)
        if not self._bot_is_topic_admin(group):
            raise bad_request("Not enough rights to create a topic")
        name = " ".join(params.get("name", "").split())[:128]
        if not name:
            raise bad_request("Title must be non-empty")
        color = self._rng.choice(FORUM_ICON_COLORS)
        if params.get("icon_color"):
            color = _to_int(params.get("icon_color"))
            if color < 0 or color > 0xFFFFFF:
                raise bad_request("Invalid icon color specified")
        topic = self._create_topic(group, name, color, params.get("icon_custom_emoji_id") or None, None)
        return topic.to_json()

    def _topic_to_manage(self, params: Mapping[str, str]) -> tuple[FakeGroup, ForumTopic]:
        group = self._forum(params)
        topic = group.topics.get(_to_int(params.get("message_thread_id")))
        if topic is None:
            raise bad_request("TOPIC_ID_INVALID")
        if not self._bot_is_topic_admin(group) and not topic.created_by_bot:
            raise bad_request("CHAT_ADMIN_REQUIRED")
        return group, topic

    async def _m_editforumtopic(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        _group, topic = self._topic_to_manage(params)
        name = topic.name
        if "name" in params:
            name = " ".join(params["name"].split())[:128]
            if not name:
                raise bad_request("Title must be non-empty")
        emoji = topic.icon_custom_emoji_id
        if "icon_custom_emoji_id" in params:
            emoji = params["icon_custom_emoji_id"] or None
        if name == topic.name and emoji == topic.icon_custom_emoji_id:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name, topic.icon_custom_emoji_id = name, emoji
        return True

    async def _m_closeforumtopic(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        _group, topic = self._topic_to_manage(params)
        if topic.is_closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.is_closed = True
        return True

    async def _m_reopenforumtopic(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        _group, topic = self._topic_to_manage(params)
        if not topic.is_closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.is_closed = False
        return True

    async def _m_deleteforumtopic(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        group, topic = self._topic_to_manage(params)
        del group.topics[topic.message_thread_id]
        now = time.monotonic()
        for stored in self._chat(group.id).messages.values():
            if stored.message_thread_id == topic.message_thread_id and not stored.deleted:
                stored.deleted, stored.deleted_at = True, now
        return True

    def _input_file(
        self, params: Mapping[str, str], files: Mapping[str, Upload], field_name: str
    ) -> Upload | str | None:
        """An uploaded file, or the string of a file_id/URL, or None."""
        if field_name in files:
            return files[field_name]
        value = params.get(field_name, "")
        if value.startswith("attach://"):
            return files.get(value[len("attach://") :])
        return value or None

    def _reused_file(self, value: str, kind: str) -> StoredFile:
        if re.match(r"^https?://", value, re.IGNORECASE):
            raise bad_request("Failed to get HTTP URL content")  # the fake has no internet
        stored = self._files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind and not (kind == "document" and stored.kind in ("photo", "sticker")):
            raise bad_request("type of file mismatch")
        return stored

    async def _send_media(
        self, params: dict[str, str], files: dict[str, Upload], kind: Literal["photo", "document"]
    ) -> Any:
        source = self._input_file(params, files, kind)
        if source is None:
            raise bad_request(f"There is no {kind} in the request")
        caption, entities = self._formatted(
            params.get("caption", ""), params.get("parse_mode"), params.get("caption_entities")
        )
        markup = self._parse_reply_markup(params.get("reply_markup"))
        chat_id = self._resolve_chat(params.get("chat_id"))
        topic = self._check_thread(chat_id, _to_int(params.get("message_thread_id")))
        reply_to = self._reply_target(params, chat_id)
        caption, entities = self._finish_text(
            caption, entities, MAX_CAPTION_LENGTH, bad_request("message caption is too long"), allow_empty=True
        )
        self._check_can_write(chat_id)
        if isinstance(source, str):
            stored_file = self._reused_file(source, kind)
        elif kind == "photo":
            size = image_size(source.data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
            if len(source.data) > MAX_PHOTO_BYTES:
                raise bad_request("PHOTO_SAVE_FILE_INVALID")
            if width + height > 10000 or max(width, height) > 20 * max(1, min(width, height)):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            stored_file = self._store_file(source.data, "photo", mime_type="image/jpeg", width=width, height=height)
        else:
            name = source.filename or "document"
            stored_file = self._store_file(
                source.data, "document", mime_type=source.content_type or "application/octet-stream", file_name=name
            )
        self._check_markup_server_side(markup)
        self._check_rate(chat_id)
        content: JSON = (
            {"photo": [self._photo_size_json(stored_file)]}
            if kind == "photo"
            else {"document": self._document_json(stored_file)}
        )
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        method = "sendPhoto" if kind == "photo" else "sendDocument"
        stored = self._new_message(
            chat_id, sender=None, content=content, topic=topic, reply_to=reply_to, markup=markup, method=method
        )
        self._record_send(stored, method)
        return stored.json

    async def _m_sendphoto(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        return await self._send_media(params, files, "photo")

    async def _m_senddocument(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        return await self._send_media(params, files, "document")

    async def _m_sendlocation(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        latitude = params.get("latitude", "").strip()
        if not latitude:
            raise ApiError(400, "Bad Request: latitude is empty")
        longitude = params.get("longitude", "").strip()
        if not longitude:
            raise ApiError(400, "Bad Request: longitude is empty")
        try:
            lat, lon = float(latitude), float(longitude)
        except ValueError:
            lat, lon = 0.0, 0.0  # td::to_double of garbage
        markup = self._parse_reply_markup(params.get("reply_markup"))
        chat_id = self._resolve_chat(params.get("chat_id"))
        topic = self._check_thread(chat_id, _to_int(params.get("message_thread_id")))
        reply_to = self._reply_target(params, chat_id)
        self._check_can_write(chat_id)
        self._check_markup_server_side(markup)
        self._check_rate(chat_id)
        location: JSON = {"latitude": lat, "longitude": lon}
        live_period = _to_int(params.get("live_period"))
        if live_period:
            location["live_period"] = live_period
        stored = self._new_message(
            chat_id,
            sender=None,
            content={"location": location},
            topic=topic,
            reply_to=reply_to,
            markup=markup,
            method="sendLocation",
        )
        self._record_send(stored, "sendLocation")
        return stored.json

    async def _m_getfile(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        stored = self._files.get(params.get("file_id", ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _m_getchat(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        chat_id = self._resolve_chat(params.get("chat_id"))
        self._check_can_read(chat_id)
        info = self._chat_json(chat_id)
        info.update(
            {
                "accent_color_id": chat_id % 7 if chat_id > 0 else 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        return info

    async def _m_getchatmember(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        chat_id = self._resolve_chat(params.get("chat_id"))
        self._check_can_read(chat_id)
        user_id = _to_int(params.get("user_id"))
        if user_id <= 0:
            raise bad_request("Invalid user_id specified")
        if user_id == self.bot_id:
            group = self.groups.get(chat_id)
            status = "member" if group is None else group.bot_status
            member: JSON = {"user": self.bot_json(), "status": status}
            if status == "administrator" and group is not None:
                member.update(self._admin_rights(group.bot_can_manage_topics))
            elif status == "kicked":
                member["until_date"] = 0
            return member
        user = self.users.get(user_id)
        if user is None:
            raise bad_request("PARTICIPANT_ID_INVALID")
        group = self.groups.get(chat_id)
        if group is None:
            return {"user": user.to_json(), "status": "member" if user_id == chat_id else "left"}
        if user_id in group.admins:
            return {"user": user.to_json(), "status": "administrator", **self._admin_rights(True)}
        return {"user": user.to_json(), "status": "member" if user_id in group.members else "left"}

    async def _m_sendchataction(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        action = params.get("action", "").lower()
        if action not in CHAT_ACTIONS:
            raise bad_request("Wrong parameter action in request")
        chat_id = self._resolve_chat(params.get("chat_id"))
        self._check_thread(chat_id, _to_int(params.get("message_thread_id")))
        self._check_can_write(chat_id)
        self.chat_actions.append((chat_id, action, time.monotonic()))
        return True

    async def _m_setmessagereaction(self, params: dict[str, str], files: dict[str, Upload]) -> Any:
        chat_id = self._resolve_chat(params.get("chat_id"))
        reactions: list[JSON] = []
        raw = params.get("reaction", "")
        if raw:
            value = _json_arg(raw, "reaction types")
            if not isinstance(value, list):
                raise bad_request("Expected an Array of ReactionType")
            for item in value:
                if not isinstance(item, dict):
                    raise bad_request("Can't parse ReactionType: expected an Object")
                kind = item.get("type")
                if kind == "emoji":
                    if not isinstance(item.get("emoji"), str):
                        raise bad_request("Can't parse ReactionType: Can't find field \"emoji\"")
                    reactions.append({"type": "emoji", "emoji": item["emoji"]})
                elif kind == "custom_emoji":
                    reactions.append({"type": "custom_emoji", "custom_emoji_id": str(item.get("custom_emoji_id"))})
                else:
                    raise bad_request("Can't parse ReactionType: invalid reaction type specified")
        stored = self._chat(chat_id).messages.get(_to_int(params.get("message_id")))
        if stored is None or stored.deleted:
            raise bad_request("message to react not found")
        self._check_can_read(chat_id)
        for reaction in reactions:
            if reaction["type"] != "emoji" or reaction["emoji"] not in REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
        if len(reactions) > 1:
            raise bad_request("REACTIONS_TOO_MANY")
        stored.reactions = reactions
        return True

    # ---------------------------------------------------------------------------------------------
    # Control API (JSON over HTTP; see the module docstring)
    # ---------------------------------------------------------------------------------------------

    def _add_control_routes(self, app: web.Application) -> None:
        routes: Sequence[tuple[str, str, Callable[[JSON, web.Request], Awaitable[Any]]]] = (
            ("GET", "/_control/state", self._c_state),
            ("POST", "/_control/users", self._c_users),
            ("POST", "/_control/groups", self._c_groups),
            ("POST", "/_control/messages", self._c_messages),
            ("POST", "/_control/press", self._c_press),
            ("POST", "/_control/block", self._c_block),
            ("GET", "/_control/sent", self._c_sent),
            ("POST", "/_control/wait", self._c_wait),
            ("POST", "/_control/faults", self._c_add_fault),
            ("DELETE", "/_control/faults", self._c_clear_faults),
            ("POST", "/_control/updates/pause", self._c_pause),
            ("POST", "/_control/updates/resume", self._c_resume),
            ("GET", "/_control/commands", self._c_commands),
            ("GET", "/_control/callback_answers", self._c_callback_answers),
            ("GET", "/_control/rates", self._c_rates),
        )
        for verb, path, handler in routes:
            app.router.add_route(verb, path, self._control(handler))

    def _control(
        self, handler: Callable[[JSON, web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            body: JSON = {}
            if request.method == "POST" and request.body_exists:
                try:
                    loaded = json.loads(await request.text() or "{}")
                except ValueError:
                    return self._json_response({"error": "the body is not JSON"}, 400)
                if not isinstance(loaded, dict):
                    return self._json_response({"error": "the body must be a JSON object"}, 400)
                body = loaded
            try:
                result = await handler(body, request)
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                return self._json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)
            return self._json_response(result if isinstance(result, dict) else {"result": result})

        return wrapped

    async def _c_state(self, body: JSON, request: web.Request) -> Any:
        return {
            "bot": await self._m_getme({}, {}),
            "get_updates_calls": self.get_updates_calls,
            "last_offset": self.last_offset,
            "last_confirmed_offset": self.last_confirmed_offset,
            "pending_updates": len(self.pending_updates),
            "sent_messages": len(self.sent_messages()),
        }

    async def _c_users(self, body: JSON, request: web.Request) -> Any:
        user = await self.add_user(
            int(body["id"]),
            str(body["first_name"]),
            language_code=body.get("language_code", "en"),
            username=body.get("username"),
            last_name=body.get("last_name"),
            is_bot=bool(body.get("is_bot", False)),
        )
        return user.to_json()

    async def _c_groups(self, body: JSON, request: web.Request) -> Any:
        group = await self.add_group(
            int(body["id"]),
            str(body["title"]),
            is_forum=bool(body.get("is_forum", False)),
            members=[int(m) for m in body.get("members", [])],
            admins=[int(m) for m in body.get("admins", [])],
            username=body.get("username"),
            bot_status=body.get("bot_status", "administrator"),
            bot_can_manage_topics=bool(body.get("bot_can_manage_topics", True)),
            type=body.get("type", "supergroup"),
        )
        return group.chat_json()

    async def _c_messages(self, body: JSON, request: web.Request) -> Any:
        return await self.user_sends_text(
            int(body["user_id"]),
            str(body["text"]),
            chat_id=None if body.get("chat_id") is None else int(body["chat_id"]),
            message_thread_id=body.get("message_thread_id"),
            reply_to_message_id=body.get("reply_to_message_id"),
        )

    async def _c_press(self, body: JSON, request: web.Request) -> Any:
        return await self.user_presses_button(
            int(body["user_id"]),
            int(body["message_id"]),
            str(body["callback_data"]),
            chat_id=int(body["chat_id"]) if body.get("chat_id") is not None else None,
            force=bool(body.get("force", False)),
        )

    async def _c_block(self, body: JSON, request: web.Request) -> Any:
        if body.get("blocked", True):
            await self.user_blocks_bot(int(body["user_id"]))
        else:
            await self.user_unblocks_bot(int(body["user_id"]), send_start=bool(body.get("send_start", True)))
        return {"ok": True}

    async def _c_sent(self, body: JSON, request: web.Request) -> Any:
        chat = request.query.get("chat_id")
        include_deleted = request.query.get("include_deleted", "1") not in ("0", "false")
        messages = self.sent_messages(int(chat) if chat else None, include_deleted=include_deleted)
        return [m.to_json() for m in messages]

    async def _c_wait(self, body: JSON, request: web.Request) -> Any:
        needle = body.get("text_contains")

        def predicate(m: StoredMessage) -> bool:
            return needle is None or needle in (m.text or "")

        found = await self.wait_for_messages(
            int(body["chat_id"]),
            int(body.get("count", 1)),
            predicate,
            timeout=float(body.get("timeout", 5.0)),
            after_message_id=int(body.get("after_message_id", 0)),
        )
        return [m.to_json() for m in found]

    async def _c_add_fault(self, body: JSON, request: web.Request) -> Any:
        mode = body.get("mode", "error")
        if mode == "error":
            self.fail_next(
                str(body["method"]),
                int(body.get("times", 1)),
                chat_id=body.get("chat_id"),
                error_code=int(body.get("error_code", 500)),
                description=body.get("description"),
                retry_after=body.get("retry_after"),
            )
        elif mode in ("hang", "drop"):
            self.ambiguous_next(
                str(body["method"]),
                int(body.get("times", 1)),
                chat_id=body.get("chat_id"),
                mode=mode,
                hold_seconds=body.get("hold_seconds"),
            )
        else:
            raise ValueError(f"unknown fault mode {mode!r}")
        return {"ok": True}

    async def _c_clear_faults(self, body: JSON, request: web.Request) -> Any:
        self.clear_faults()
        return {"ok": True}

    async def _c_pause(self, body: JSON, request: web.Request) -> Any:
        self.pause_updates()
        return {"ok": True}

    async def _c_resume(self, body: JSON, request: web.Request) -> Any:
        self.resume_updates()
        return {"ok": True}

    async def _c_commands(self, body: JSON, request: web.Request) -> Any:
        return [
            {"scope": list(scope), "language_code": language, "commands": commands}
            for (scope, language), commands in self.commands_store.items()
        ]

    async def _c_callback_answers(self, body: JSON, request: web.Request) -> Any:
        return [a.to_json() for a in self.callback_answers]

    async def _c_rates(self, body: JSON, request: web.Request) -> Any:
        window = float(request.query.get("window", "1.0"))
        return {str(chat): count for chat, count in self.max_rate_per_chat(window).items()}


# --------------------------------------------------------------------------------------------------
# Standalone process
# --------------------------------------------------------------------------------------------------


def _rate(value: str) -> RateLimit | None:
    """``N/SECONDS`` (e.g. ``20/60``) or ``off``."""
    if value == "off":
        return None
    count, _, seconds = value.partition("/")
    return RateLimit(int(count), float(seconds or "1"))


async def _serve(args: argparse.Namespace) -> None:
    limits = RateLimits(private=_rate(args.private_rate), group=_rate(args.group_rate), global_=_rate(args.global_rate))
    server = FakeBotApi(
        args.token,
        host=args.host,
        port=args.port,
        bot_username=args.bot_username,
        rate_limits=limits,
        callback_answer_timeout=args.callback_timeout,
        privacy_mode=not args.no_privacy,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    print(f"FAKE_TELEGRAM_API_READY port={server.port} base_url={server.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.telegram_api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="haven_test_bot")
    parser.add_argument("--private-rate", default="1/1", help="N/SECONDS per private chat, or off")
    parser.add_argument("--group-rate", default="20/60", help="N/SECONDS per group, or off")
    parser.add_argument("--global-rate", default="30/1", help="N/SECONDS over all chats, or off")
    parser.add_argument("--callback-timeout", type=float, default=15.0)
    parser.add_argument("--no-privacy", action="store_true", help="bot receives every group message")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
