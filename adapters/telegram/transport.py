"""The Telegram transport: python-telegram-bot used as an HTTP client for the Bot API, nothing more.

Receiving. The bot keeps the getUpdates offset itself. Each batch is recorded in the inbox together
with the next offset, in one transaction; only the following getUpdates call, which carries that
offset, confirms the batch to Telegram. A kill at any moment therefore loses no update, and the
inbox's deduplication by update id means none is processed twice. Button presses are answered
(answerCallbackQuery) as soon as they are recorded so that clients stop spinning; the core's answer
follows as a message. Network trouble never ends the loop: it backs off and polls again.

Sending. One outgoing item may take several calls (a text longer than a message, a forum topic and
its card). Progress is kept per item, so a retry continues where the last attempt stopped. Errors
become delivery results (see :func:`outcome`); the generic sender decides what to do with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import warnings
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import telegram
from telegram import InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from adapters.telegram import buttons, render
from adapters.telegram.inbound import ALLOWED_UPDATES
from bot.config import TelegramSettings
from bot.domain.ids import ChatAddress, Platform, native_id, platform_of
from bot.logs import redact
from bot.messages import (
    Ambiguous,
    Delivered,
    DeliveryResult,
    EditCard,
    Failed,
    Outgoing,
    PostCard,
    Rejected,
    RetryLater,
    Send,
    SendFile,
    Unreachable,
)
from bot.ports import InboundSink

log = logging.getLogger(__name__)

OFFSET = "telegram.offset"
MENUS = "telegram.menus"
#: Extra seconds a long poll may take beyond its own timeout before it counts as lost.
POLL_GRACE = 10.0
MAX_BACKOFF = 30.0
_CACHE = 2000
#: httpx errors raised before a request could reach the server: sending again cannot duplicate it.
NEVER_LEFT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
#: Forbidden (403) descriptions and how a coordinator reads them.
FORBIDDEN = (
    ("can't initiate", "has not started the bot"),
    ("blocked", "blocked the bot"),
    ("deactivated", "deleted their Telegram account"),
    ("kicked", "the bot was removed from this chat"),
    ("not a member", "the bot is not a member of this chat"),
    ("bots", "is a bot, and bots cannot message bots"),
)
CHAT_NOT_FOUND = "the chat was not found (they have not started the bot, or the id is wrong)"


class _Bot(telegram.Bot):
    async def raw_updates(self, offset: int, wait: int, allowed: Sequence[str], grace: float) -> list[dict[str, Any]]:
        """getUpdates (a long poll of ``wait`` seconds) without PTB's parsing: the exact JSON is what
        the inbox records."""
        data = {"offset": offset or None, "timeout": wait, "allowed_updates": list(allowed)}
        result = await self._post("getUpdates", data, read_timeout=grace + wait)
        if not isinstance(result, list):
            return []
        return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]


@dataclass(slots=True)
class _Progress:
    """How far one outgoing item got: messages sent, the last one's id, its forum topic."""

    sent: int = 0
    last: int | None = None
    topic: int | None = None


class TelegramTransport:
    platform: Platform = Platform("telegram")

    def __init__(
        self,
        settings: TelegramSettings,
        secret: Callable[[], bytes],
        menus: Sequence[render.Menu] = (),
        *,
        send_timeout: float = 20.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.menus = tuple(menus)
        self.last_contact: datetime | None = None
        #: The bot's username once getMe answered (commands may name it: ``/ack@haven_bot``).
        self.username: str | None = None
        self._secret = secret
        self._sending = HTTPXRequest(
            connection_pool_size=24,
            connect_timeout=connect_timeout,
            read_timeout=send_timeout,
            write_timeout=send_timeout,
            pool_timeout=send_timeout,
        )
        self._polling = HTTPXRequest(
            connection_pool_size=1,
            connect_timeout=connect_timeout,
            read_timeout=POLL_GRACE,
            write_timeout=POLL_GRACE,
            pool_timeout=POLL_GRACE,
        )
        self.bot = _Bot(
            settings.token,
            base_url=settings.base_url,
            base_file_url=settings.base_file_url,
            request=self._sending,
            get_updates_request=self._polling,
        )
        self._sink: InboundSink | None = None
        self._offset = 0
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._forums: dict[int, bool] = {}
        self._names: dict[int, str] = {}
        self._progress: dict[int, _Progress] = {}
        self._send_timeout = send_timeout
        self._delivering = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # --- the Transport port ----------------------------------------------------------------------

    def is_group(self, chat: ChatAddress) -> bool:
        return native_id(chat).startswith("-")

    async def start(self, sink: InboundSink) -> None:
        self._sink = sink
        saved = await sink.recall(OFFSET)
        self._offset = int(saved) if saved and saved.isdigit() else 0
        self._stopping = False
        self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

    async def stop(self) -> None:
        """Stop receiving and release the connections, once the messages on their way have arrived
        (closing under them would make their fate unknown). Later deliveries reopen the connections:
        the runtime drains the outbox after stopping the transports."""
        self._stopping = True
        tasks = [t for t in (self._poller, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._poller = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=self._send_timeout)
        await self.bot.shutdown()

    async def fetch(self, ref: str, limit: int) -> bytes:
        """Download a file someone sent (``ref`` is its file_id)."""
        found = await self.bot.get_file(ref)
        if found.file_size is not None and found.file_size > limit:
            raise ValueError("the file is too large")
        data = bytes(await found.download_as_bytearray())
        if len(data) > limit:
            raise ValueError("the file is too large")
        return data

    async def deliver(self, item: Outgoing) -> DeliveryResult:
        await self._sending.initialize()  # a no-op unless stop() closed the connections
        self._delivering += 1
        self._idle.clear()
        try:
            result = await self._deliver(item)
        except (TelegramError, ValueError) as error:
            result = outcome(error, item)
        finally:
            self._delivering -= 1
            if not self._delivering:
                self._idle.set()
        if not isinstance(result, RetryLater | Failed | Ambiguous):
            self._progress.pop(item.id, None)
        return result

    # --- receiving -------------------------------------------------------------------------------

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                if self.username is None:
                    await self.bot.initialize()
                    self.username = self.bot.username
                    self.last_contact = datetime.now(UTC)
                    self._spawn(self._set_menus())
                updates = await self.bot.raw_updates(
                    self._offset, self.settings.poll_timeout, ALLOWED_UPDATES, POLL_GRACE
                )
                self.last_contact = datetime.now(UTC)
                if updates:
                    await self._record(updates)
                failures = 0
            except Exception as error:
                failures += 1
                delay = 60.0 if isinstance(error, InvalidToken) else min(MAX_BACKOFF, 0.5 * 2**failures)
                delay *= random.uniform(0.8, 1.0)
                _log_poll_error(error, delay)
                await asyncio.sleep(delay)

    async def _record(self, updates: list[dict[str, Any]]) -> None:
        assert self._sink is not None
        last = max(int(u["update_id"]) for u in updates)
        items = [(str(u["update_id"]), u) for u in updates]
        await self._sink.record("telegram", items, cursor=(OFFSET, str(last + 1)))
        self._offset = last + 1  # the next getUpdates confirms this batch to Telegram
        for update in updates:
            query = update.get("callback_query")
            if isinstance(query, dict) and isinstance(query.get("id"), str):
                self._spawn(self._answer(query["id"]))

    async def _answer(self, query_id: str) -> None:
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(query_id)

    async def _set_menus(self) -> None:
        """Set the command menus once per change (a fingerprint is kept in the store)."""
        if not self.menus or self._sink is None:
            return
        entries = [[str(m.scope), m.language, m.commands] for m in self.menus]
        bot_id = self.settings.token.split(":", 1)[0]
        fingerprint = hashlib.sha256(json.dumps([bot_id, entries]).encode()).hexdigest()
        if await self._sink.recall(MENUS) == fingerprint:
            return
        complete = True
        for entry in self.menus:
            try:
                await self.bot.set_my_commands(**render.menu(entry))
            except TelegramError as error:
                complete = False
                log.warning("could not set a command menu: %s", _describe(error))
        if complete:
            await self._sink.remember(MENUS, fingerprint)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sending ---------------------------------------------------------------------------------

    def _sign(self, chat: str, key: str, question: int | None) -> str:
        return buttons.sign(self._secret(), chat, key, question)

    async def _deliver(self, item: Outgoing) -> DeliveryResult:
        effect = item.effect
        limit = self.limits.max_text
        if isinstance(effect, EditCard):
            if not item.card_ref:
                return Rejected("the card to edit is unknown")
            await self.bot.edit_message_text(**render.edit(effect, int(item.card_ref), self._sign, limit=limit))
            return Delivered(item.card_ref, item.thread_ref)
        if len(self._progress) > _CACHE:
            self._progress.clear()
        progress = self._progress.setdefault(item.id, _Progress())
        if isinstance(effect, PostCard):
            return await self._post_card(effect, progress)
        if isinstance(effect, SendFile):
            caption = render.caption(effect.caption)
            document = InputFile(effect.data, filename=effect.name)
            message = await self.bot.send_document(
                render.chat_id(effect.to), document, caption=caption, parse_mode=render.PARSE_MODE
            )
            return Delivered(str(message.message_id))
        assert isinstance(effect, Send)
        mentions = await self._mentions(effect) if effect.mentions and self.is_group(effect.to) else []
        calls = render.messages(
            effect, self._sign, limit=limit, card_ref=item.card_ref, thread_ref=item.thread_ref, mentions=mentions
        )
        spacing = self._spacing(effect.to)
        for index in range(progress.sent, len(calls)):
            if index:
                await asyncio.sleep(spacing)  # keep the chat's pace between the parts of one text
            message = await self._send_message(calls[index])
            progress.sent, progress.last = index + 1, message.message_id
        if len(calls) > 1:
            await asyncio.sleep(spacing)
        return Delivered(str(progress.last), item.thread_ref if effect.in_thread else None)

    async def _post_card(self, effect: PostCard, progress: _Progress) -> DeliveryResult:
        chat = render.chat_id(effect.to)
        if progress.topic is None and effect.title and await self._is_forum(chat):
            try:
                topic = await self.bot.create_forum_topic(**render.topic(effect))
                progress.topic = topic.message_thread_id
            except BadRequest as error:
                log.warning("cannot open a forum topic (%s); cards go to the main chat", _describe(error))
                self._forums[chat] = False
        call = render.card(effect, self._sign, limit=self.limits.max_text, thread=progress.topic)
        message = await self._send_message(call)
        return Delivered(str(message.message_id), str(progress.topic) if progress.topic else None)

    async def _send_message(self, call: dict[str, Any]) -> Message:
        try:
            return await self.bot.send_message(**call)
        except BadRequest as error:
            if "message_thread_id" not in call or "thread not found" not in error.message.lower():
                raise
            log.warning("a case's forum topic is gone; writing in the main chat instead")
            return await self.bot.send_message(**{k: v for k, v in call.items() if k != "message_thread_id"})

    async def _is_forum(self, chat: int) -> bool:
        if chat >= 0:
            return False
        if chat not in self._forums:
            self._forums[chat] = bool((await self.bot.get_chat(chat)).is_forum)
        return self._forums[chat]

    async def _mentions(self, effect: Send) -> list[render.Mention]:
        """The people to notify, with their first names as the group shows them (asked once each)."""
        chat = render.chat_id(effect.to)
        users = [
            int(native_id(identity))
            for identity in dict.fromkeys(effect.mentions)
            if platform_of(identity) == self.platform and native_id(identity).isdigit()
        ]
        await asyncio.gather(*(self._learn_name(chat, user) for user in users if user not in self._names))
        return [(user, self._names.get(user, "")) for user in users]

    async def _learn_name(self, chat: int, user: int) -> None:
        with contextlib.suppress(TelegramError):
            member = await self.bot.get_chat_member(chat, user)
            if len(self._names) > _CACHE:
                self._names.clear()
            self._names[user] = member.user.first_name

    def _spacing(self, chat: str) -> float:
        """Seconds between two messages to one chat within its limit (with the sender's margin)."""
        per_second = (
            self.limits.group_per_minute / 60
            if self.is_group(ChatAddress(chat)) and self.limits.group_per_minute
            else self.limits.private_per_second
        )
        return 1.05 / per_second if per_second else 0.0


def outcome(error: TelegramError | ValueError, item: Outgoing | None = None) -> DeliveryResult:
    """What a failed Bot API call means for the outbox."""
    if isinstance(error, RetryAfter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = error.retry_after
        return RetryLater(value.total_seconds() if isinstance(value, timedelta) else float(value))
    if isinstance(error, Forbidden):
        text = error.message.lower()
        return Unreachable(next((reason for needle, reason in FORBIDDEN if needle in text), _describe(error)))
    if isinstance(error, ChatMigrated):
        return Rejected("the group became a supergroup with a new id: update team_room in the configuration")
    if isinstance(error, BadRequest):
        text = error.message.lower()
        if "not modified" in text:
            return Delivered(item.card_ref, item.thread_ref) if item else Delivered()
        if "chat not found" in text:
            return Unreachable(CHAT_NOT_FOUND)
        return Rejected(_describe(error))
    if isinstance(error, NetworkError):  # TimedOut too
        cause = error.__cause__
        if isinstance(cause, httpx.HTTPError) and not isinstance(cause, NEVER_LEFT):
            return Ambiguous(_describe(error))
        return Failed(_describe(error))
    if isinstance(error, TelegramError):
        return Failed(_describe(error))
    return Rejected(f"cannot be sent to Telegram: {error}")


def _describe(error: BaseException) -> str:
    detail = error.message if isinstance(error, TelegramError) else str(error)
    cause = error.__cause__
    if not detail and cause is not None:
        detail = type(cause).__name__
    return redact(f"{type(error).__name__}: {detail}" if detail else type(error).__name__)


def _log_poll_error(error: Exception, delay: float) -> None:
    if isinstance(error, InvalidToken):
        log.error("Telegram refused the bot token: check [telegram] token (retrying in %.0fs)", delay)
    elif isinstance(error, Conflict):
        log.warning("another process is receiving this bot's updates; only one may run (retrying in %.0fs)", delay)
    elif isinstance(error, TelegramError):
        log.warning("getUpdates failed: %s (retrying in %.1fs)", _describe(error), delay)
    else:
        log.error("receiving updates failed (retrying in %.1fs)", delay, exc_info=error)
