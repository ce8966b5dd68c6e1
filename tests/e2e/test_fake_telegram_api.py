"""Tests of the fake Telegram Bot API server, driven through a real python-telegram-bot ``Bot``.

Every expectation about error texts and semantics here is one the real Bot API shows (see the module
docstring of ``tests.fakes.telegram_api`` for the sources); PTB prettifies error messages, so exact
wire texts are checked with ``server.last_error()``.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from tests.fakes.telegram_api import (
    DEFAULT_TOKEN,
    FakeBotApi,
    RateLimit,
    RateLimits,
    make_png,
    parse_html,
    parse_markdown_v2,
)

pytestmark = [
    pytest.mark.telegram_server,
    # RetryAfter.retry_after turns into a timedelta in PTB 23; the tests accept both
    pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"),
]

TOKEN = DEFAULT_TOKEN
ALICE, BOB, CAROL = 1001, 1002, 1003
FORUM = -1001234567890
GROUP = -1009876543210
REPO_ROOT = Path(__file__).resolve().parents[2]


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"b{i}", callback_data=d)] for i, d in enumerate(data)])


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN, seed=7) as fake:
        await fake.add_user(ALICE, "Alice", language_code="en", username="alice")
        await fake.add_user(BOB, "Bob", language_code="ru")
        await fake.add_user(CAROL, "Carol", language_code="de")
        yield fake


@pytest.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as client:
        yield client


def seconds(value: object) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB's settings."""
    return value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)  # type: ignore[arg-type]


async def started(server: FakeBotApi, *users: int) -> None:
    """The users pressed Start; their /start updates are left in the queue."""
    for user in users:
        await server.user_sends_text(user, "/start")


# --------------------------------------------------------------------------------------------------
# Routing, encodings, authentication
# --------------------------------------------------------------------------------------------------


async def test_routing_tokens_and_unknown_methods(server: FakeBotApi, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "haven_test_bot" and me.id == 123456789

    wrong = telegram.Bot("123456789:wrongSecret", base_url=server.base_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()  # getMe
    await wrong.shutdown()
    assert server.last_error() == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    assert server.last_error() == {"ok": False, "error_code": 404, "description": "Not Found"}

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/botnot-a-token/getMe") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        # method names are case-insensitive; GET with a query string, JSON and form bodies all work
        async with http.get(f"{server.base_url}{TOKEN}/GETME") as response:
            assert (await response.json())["result"]["id"] == me.id
        await server.user_sends_text(ALICE, "/start")
        server.rate_limits = RateLimits.disabled()
        async with http.post(
            f"{server.base_url}{TOKEN}/sendMessage",
            json={
                "chat_id": ALICE,
                "text": "json",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "x"}]]},
            },
        ) as response:
            body = await response.json()
            assert body["ok"] and body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "x"
        async with http.get(f"{server.base_url}{TOKEN}/sendMessage", params={"chat_id": str(ALICE), "text": "q"}) as r:
            assert (await r.json())["result"]["text"] == "q"

    # PTB sends nested objects JSON-encoded inside a form body
    request = server.calls("getMe")[0]
    assert request.params == {}
    assert [r.method for r in server.requests][:1] == ["getMe"]


# --------------------------------------------------------------------------------------------------
# getUpdates
# --------------------------------------------------------------------------------------------------


async def test_get_updates_offset_semantics(server: FakeBotApi, bot: telegram.Bot) -> None:
    for text in ("one", "two", "three"):
        await server.user_sends_text(ALICE, text)

    first = await bot.get_updates()
    assert [u.message.text for u in first if u.message] == ["one", "two", "three"]
    ids = [u.update_id for u in first]
    assert ids == list(range(ids[0], ids[0] + 3))

    # not confirmed: a reconnecting client (a new Bot) gets the same updates again
    async with telegram.Bot(TOKEN, base_url=server.base_url) as again:
        assert [u.update_id for u in await again.get_updates()] == ids
    # limit, and an offset in the middle confirms only what is below it
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=1)] == [ids[1]]
    assert [u["update_id"] for u in server.pending_updates] == ids[1:]

    # confirming everything: confirmed updates never come back, whatever offset is asked later
    assert await bot.get_updates(offset=ids[-1] + 1) == ()
    assert server.last_confirmed_offset == ids[-1] + 1
    assert await bot.get_updates(offset=ids[0]) == ()
    assert await bot.get_updates() == ()

    await server.user_sends_text(ALICE, "four")
    await server.user_sends_text(ALICE, "five")
    later = await bot.get_updates()
    assert [u.update_id for u in later] == [ids[-1] + 1, ids[-1] + 2]

    # an offset far in the future is invalid: answered from the head, nothing is confirmed
    assert len(await bot.get_updates(offset=ids[-1] + 1000)) == 2
    # a negative offset keeps only the last -offset updates
    assert [u.message.text for u in await bot.get_updates(offset=-1) if u.message] == ["five"]
    assert len(server.pending_updates) == 1
    assert server.get_updates_calls == 9


async def test_long_poll_wakes_up_as_soon_as_an_update_arrives(server: FakeBotApi, bot: telegram.Bot) -> None:
    start = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await server.wait_until(lambda: server.get_updates_calls == 1)
    await asyncio.sleep(0.2)
    assert not poll.done()
    await server.user_sends_text(ALICE, "wake up")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates if u.message] == ["wake up"]
    assert time.monotonic() - start < 1.5

    # an empty long poll returns [] when its timeout expires
    start = time.monotonic()
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
    assert 0.9 < time.monotonic() - start < 2.0


async def test_a_second_get_updates_terminates_the_first(server: FakeBotApi, bot: telegram.Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await server.wait_until(lambda: server.get_updates_calls == 1)
    async with telegram.Bot(TOKEN, base_url=server.base_url) as other:
        second = asyncio.create_task(other.get_updates(timeout=10))
        with pytest.raises(Conflict):
            await asyncio.wait_for(first, 2)
        assert server.last_error("getUpdates")["description"] == (
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        )
        await server.user_sends_text(BOB, "hello")
        assert len(await asyncio.wait_for(second, 2)) == 1


async def test_allowed_updates_and_pause(server: FakeBotApi, bot: telegram.Bot) -> None:
    await started(server, ALICE)
    sent = await bot.send_message(ALICE, "react to me")
    await server.user_reacts(ALICE, sent.message_id, "👍")  # not allowed by default: dropped
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["/start"]

    updates = await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=["message", "message_reaction"])
    assert updates == ()
    await server.user_reacts(ALICE, sent.message_id, "🔥")
    (update,) = await bot.get_updates()
    assert update.message_reaction is not None
    (new,), (old,) = update.message_reaction.new_reaction, update.message_reaction.old_reaction
    assert isinstance(new, telegram.ReactionTypeEmoji) and new.emoji == "🔥"
    assert isinstance(old, telegram.ReactionTypeEmoji) and old.emoji == "👍"

    server.pause_updates()
    await server.user_sends_text(ALICE, "while paused")
    assert await bot.get_updates(offset=update.update_id + 1) == ()
    poll = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=5))
    await asyncio.sleep(0.3)
    assert not poll.done()
    server.resume_updates()
    assert [u.message.text for u in await asyncio.wait_for(poll, 2) if u.message] == ["while paused"]


# --------------------------------------------------------------------------------------------------
# Chats and access
# --------------------------------------------------------------------------------------------------


async def test_private_chats_need_a_start_and_can_be_blocked(server: FakeBotApi, bot: telegram.Bot) -> None:
    with pytest.raises(Forbidden):
        await bot.send_message(ALICE, "hello?")
    assert server.last_error() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot can't initiate conversation with a user",
    }
    with pytest.raises(BadRequest):
        await bot.send_message(424242, "nobody")
    assert server.last_error()["description"] == "Bad Request: chat not found"
    with pytest.raises(BadRequest):
        await bot.get_chat(ALICE)  # the bot has never seen Alice
    assert server.last_error()["description"] == "Bad Request: chat not found"

    await server.user_sends_text(ALICE, "/start")
    message = await bot.send_message(ALICE, "Welcome")
    assert message.chat.id == ALICE and message.from_user is not None and message.from_user.is_bot
    chat = await bot.get_chat(ALICE)
    assert chat.first_name == "Alice" and chat.username == "alice" and chat.type == "private"

    await server.user_blocks_bot(ALICE)
    server.rate_limits = RateLimits.disabled()
    with pytest.raises(Forbidden):
        await bot.send_message(ALICE, "still there?")
    assert server.last_error()["description"] == "Forbidden: bot was blocked by the user"
    updates = await bot.get_updates()
    member_update = updates[-1].my_chat_member
    assert member_update is not None and member_update.new_chat_member.status == "kicked"

    await server.user_unblocks_bot(ALICE)  # presses Restart, which sends /start
    assert (await bot.send_message(ALICE, "welcome back")).text == "welcome back"
    assert [m.text for m in server.sent_messages(ALICE)] == ["Welcome", "welcome back"]


async def test_groups_privacy_mode_and_membership(server: FakeBotApi, bot: telegram.Bot) -> None:
    await server.add_group(GROUP, "Crew", members=[ALICE, BOB], bot_status="member")
    await server.user_sends_text(ALICE, "plain chatter", chat_id=GROUP)
    await server.user_sends_text(ALICE, "/report@haven_test_bot", chat_id=GROUP)
    await server.user_sends_text(ALICE, "/report@other_bot", chat_id=GROUP)
    await server.user_sends_text(BOB, "/help", chat_id=GROUP)
    await server.user_sends_text(BOB, "hey @haven_test_bot", chat_id=GROUP)
    texts = [u.message.text for u in await bot.get_updates() if u.message]
    assert texts == ["/report@haven_test_bot", "/help", "hey @haven_test_bot"]

    await server.set_bot_status(GROUP, "kicked")
    with pytest.raises(Forbidden):
        await bot.send_message(GROUP, "anyone?")
    assert server.last_error()["description"] == "Forbidden: bot was kicked from the supergroup chat"


# --------------------------------------------------------------------------------------------------
# Message validation
# --------------------------------------------------------------------------------------------------


async def test_text_length_is_counted_in_utf16_after_parsing(server: FakeBotApi) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE)
    async with telegram.Bot(TOKEN, base_url=server.base_url) as bot:
        assert (await bot.send_message(ALICE, "a" * 4096)).text == "a" * 4096
        with pytest.raises(BadRequest):
            await bot.send_message(ALICE, "a" * 4097)
        assert server.last_error() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message is too long",
        }

        # an emoji outside the BMP is two UTF-16 code units
        await bot.send_message(ALICE, "😀" * 2048)
        with pytest.raises(BadRequest):
            await bot.send_message(ALICE, "😀" * 2049)  # len() == 2049, but 4098 code units
        # markup does not count; surrounding whitespace is trimmed before counting
        html = await bot.send_message(ALICE, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
        assert html.entities[0].type == "bold" and html.entities[0].length == 4096
        assert (await bot.send_message(ALICE, "  \n" + "a" * 4096 + "\n  ")).text == "a" * 4096

        for text, description in [
            ("", "Bad Request: message text is empty"),
            ("  \n ", "Bad Request: message must be non-empty"),
        ]:
            with pytest.raises(BadRequest):
                await bot.send_message(ALICE, text)
            assert server.last_error()["description"] == description

        for text, mode, description in [
            (
                "<b>bold",
                "HTML",
                "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
            ),
            ("1 <x> 2", "HTML", 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 2'),
            (
                "<b>a</i>",
                "HTML",
                'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
            ),
            (
                "Done.",
                "MarkdownV2",
                "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the "
                "preceding '\\'",
            ),
            (
                "*bold",
                "MarkdownV2",
                "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0",
            ),
        ]:
            with pytest.raises(BadRequest):
                await bot.send_message(ALICE, text, parse_mode=mode)
            assert server.last_error()["description"] == description

        ok = await bot.send_message(ALICE, "a &lt;b&gt; <i>c</i> <a href='https://x.org'>d</a>", parse_mode="HTML")
        assert ok.text == "a <b> c d"
        assert [(e.type, e.offset, e.length) for e in ok.entities] == [("italic", 6, 1), ("text_link", 8, 1)]
        v2 = await bot.send_message(ALICE, "*Hi* _there_ \\. [x](https://y.org)", parse_mode="MarkdownV2")
        assert v2.text == "Hi there . x"
        assert [e.type for e in v2.entities] == ["bold", "italic", "text_link"]


async def test_inline_keyboard_validation(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE)
    message = await bot.send_message(ALICE, "ok", reply_markup=keyboard("x" * 64, "ё" * 32))
    assert message.reply_markup is not None and len(message.reply_markup.inline_keyboard) == 2

    for data in ("x" * 65, "ё" * 33):  # 65 and 66 bytes
        with pytest.raises(BadRequest):
            await bot.send_message(ALICE, "too much data", reply_markup=keyboard(data))
        assert server.last_error()["description"] == "Bad Request: BUTTON_DATA_INVALID"

    with pytest.raises(BadRequest):
        await bot.send_message(ALICE, "no action", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("t")]]))
    assert server.last_error()["description"] == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )
    assert len(server.sent_messages(ALICE)) == 1  # failed sends leave nothing behind


async def test_reply_parameters(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    question = await server.user_sends_text(ALICE, "I need help")
    answer = await bot.send_message(ALICE, "On it", reply_to_message_id=question["message_id"])
    assert answer.reply_to_message is not None and answer.reply_to_message.text == "I need help"
    with pytest.raises(BadRequest):
        await bot.send_message(ALICE, "?", reply_parameters=telegram.ReplyParameters(9999))
    assert server.last_error()["description"] == "Bad Request: message to be replied not found"
    loose = await bot.send_message(
        ALICE, "anyway", reply_parameters=telegram.ReplyParameters(9999, allow_sending_without_reply=True)
    )
    assert loose.reply_to_message is None
    assert answer.message_id == question["message_id"] + 1  # one message id sequence per chat


# --------------------------------------------------------------------------------------------------
# Flood limits
# --------------------------------------------------------------------------------------------------


async def test_429_is_per_chat_and_carries_retry_after(bot: telegram.Bot, server: FakeBotApi) -> None:
    server.rate_limits = RateLimits(private=RateLimit(1, 0.4), group=RateLimit(3, 0.5), global_=RateLimit(30, 1.0))
    await started(server, ALICE, BOB)
    await bot.send_message(ALICE, "1")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALICE, "2")
    assert seconds(caught.value.retry_after) >= 1
    assert server.last_error() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    await bot.send_message(BOB, "other chats are not limited")
    await asyncio.sleep(0.45)
    await bot.send_message(ALICE, "2")

    await server.add_group(GROUP, "Crew", members=[ALICE])
    for i in range(3):
        await bot.send_message(GROUP, f"g{i}")
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "g3")

    assert [m.text for m in server.sent_messages(ALICE)] == ["1", "2"]
    assert server.max_in_window(ALICE, 0.4) == 1
    assert server.max_in_window(GROUP, 0.5) == 3
    assert server.max_rate_per_chat(0.4) == {ALICE: 1, BOB: 1, GROUP: 3}
    server.assert_rate_limits_respected()
    assert [(chat, after) for chat, _, after in server.rate_limited] == [(ALICE, 1), (GROUP, 1)]


async def test_global_limit_and_the_violation_check(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits(private=None, group=None, global_=RateLimit(3, 0.5))
    await started(server, ALICE, BOB, CAROL)
    for user in (ALICE, BOB, CAROL):
        await bot.send_message(user, "x")
    with pytest.raises(RetryAfter):
        await bot.send_message(ALICE, "y")
    assert server.max_in_window(None, 0.5) == 3
    server.assert_rate_limits_respected()
    # a tighter limit afterwards shows what the log would have violated
    server.rate_limits = RateLimits(private=None, group=None, global_=RateLimit(2, 0.5))
    with pytest.raises(AssertionError, match="all chats: 3 sends"):
        server.assert_rate_limits_respected()


# --------------------------------------------------------------------------------------------------
# Forum topics
# --------------------------------------------------------------------------------------------------


async def test_forum_topics(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await server.add_group(FORUM, "Incidents", is_forum=True, members=[ALICE, BOB], admins=[BOB])
    await server.add_group(GROUP, "Plain", members=[ALICE])

    topic = await bot.create_forum_topic(FORUM, "Report #1")
    assert (
        topic.name == "Report #1"
        and topic.message_thread_id > 0
        and topic.icon_color
        in (
            0x6FB9F0,
            0xFFD67E,
            0xCB86DB,
            0x8EEE98,
            0xFF93B2,
            0xFB6F5F,
        )
    )
    posted = await bot.send_message(FORUM, "details", message_thread_id=topic.message_thread_id)
    assert posted.message_thread_id == topic.message_thread_id and posted.is_topic_message
    assert posted.reply_to_message is not None and posted.reply_to_message.forum_topic_created is not None

    with pytest.raises(BadRequest):
        await bot.send_message(FORUM, "lost", message_thread_id=topic.message_thread_id + 100)
    assert server.last_error()["description"] == "Bad Request: message thread not found"
    with pytest.raises(BadRequest):
        await bot.create_forum_topic(GROUP, "nope")
    assert server.last_error()["description"] == "Bad Request: the chat is not a forum"
    with pytest.raises(BadRequest):
        await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="Report #1")
    assert server.last_error()["description"] == "Bad Request: TOPIC_NOT_MODIFIED"
    assert await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="Report #1 (urgent)")
    assert await bot.close_forum_topic(FORUM, topic.message_thread_id)
    with pytest.raises(BadRequest):
        await bot.close_forum_topic(FORUM, topic.message_thread_id)
    assert server.last_error()["description"] == "Bad Request: TOPIC_NOT_MODIFIED"
    with pytest.raises(BadRequest):
        await bot.close_forum_topic(FORUM, 424242)
    assert server.last_error()["description"] == "Bad Request: TOPIC_ID_INVALID"
    assert server.topics(FORUM)[topic.message_thread_id].name == "Report #1 (urgent)"

    # a member writes in the topic: the bot (an admin) gets it with the thread id
    await server.user_sends_text(BOB, "any news?", chat_id=FORUM, message_thread_id=topic.message_thread_id)
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.message_thread_id == topic.message_thread_id

    await server.set_bot_status(FORUM, "member")
    with pytest.raises(BadRequest):
        await bot.create_forum_topic(FORUM, "Report #2")
    assert server.last_error()["description"] == "Bad Request: not enough rights to create a topic"


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------


async def test_commands_per_scope_and_language(server: FakeBotApi, bot: telegram.Bot) -> None:
    await server.add_group(GROUP, "Crew", members=[ALICE, BOB], admins=[BOB])
    private = telegram.BotCommandScopeAllPrivateChats()
    await bot.set_my_commands([("start", "Start"), ("report", "Report an incident")])
    await bot.set_my_commands([("report", "Сообщить")], language_code="ru")
    await bot.set_my_commands([("report", "Report"), ("cancel", "Cancel")], scope=private)
    await bot.set_my_commands([("ack", "Acknowledge")], scope=telegram.BotCommandScopeChat(GROUP))
    await bot.set_my_commands([("close", "Close")], scope=telegram.BotCommandScopeChatAdministrators(GROUP))

    assert [c.command for c in await bot.get_my_commands()] == ["start", "report"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Сообщить"]
    assert [c.command for c in await bot.get_my_commands(scope=private)] == ["report", "cancel"]
    assert await bot.get_my_commands(scope=private, language_code="ru") == ()  # no fallback in getMyCommands
    assert server.commands_for("all_private_chats") == [
        {"command": "report", "description": "Report"},
        {"command": "cancel", "description": "Cancel"},
    ]
    assert server.commands_for({"type": "chat", "chat_id": GROUP}) == [{"command": "ack", "description": "Acknowledge"}]
    # what clients show, resolved as the docs describe
    assert [c["command"] for c in server.commands_seen_by(ALICE)] == ["report", "cancel"]
    assert [c["command"] for c in server.commands_seen_by(ALICE, GROUP)] == ["ack"]
    assert [c["command"] for c in server.commands_seen_by(BOB, GROUP)] == ["close"]
    assert await bot.delete_my_commands(scope=private)
    assert [c["description"] for c in server.commands_seen_by(BOB)] == ["Сообщить"]  # Bob speaks Russian

    for commands, language, description in [
        ([("Start", "x")], None, "Bad Request: BOT_COMMAND_INVALID"),
        ([("start-now", "x")], None, "Bad Request: BOT_COMMAND_INVALID"),
        ([("a" * 33, "x")], None, "Bad Request: command length must not exceed 32"),
        ([("start", " ")], None, "Bad Request: command description must be non-empty"),
        ([("start", "x" * 257)], None, "Bad Request: command description length must not exceed 256"),
        ([(f"c{i}", "x") for i in range(101)], None, "Bad Request: BOT_COMMANDS_TOO_MUCH"),
        ([("start", "x")], "eng", "Bad Request: invalid language code specified"),
    ]:
        with pytest.raises(BadRequest):
            await bot.set_my_commands(commands, language_code=language)
        assert server.last_error()["description"] == description
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("x", "y")], scope=telegram.BotCommandScopeChat(-100555))
    assert server.last_error()["description"] == "Bad Request: chat not found"
    # "/start" is accepted and stored without the slash
    await bot.set_my_commands([("/start", "Start")], language_code="de")
    assert server.commands_for("default", "de") == [{"command": "start", "description": "Start"}]


# --------------------------------------------------------------------------------------------------
# Callback queries
# --------------------------------------------------------------------------------------------------


async def test_callback_queries_are_answered_once_and_in_time(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.callback_answer_timeout = 0.5
    await started(server, ALICE)
    menu = await bot.send_message(ALICE, "Pick", reply_markup=keyboard("yes", "no"))
    stored = server.message(ALICE, menu.message_id)

    with pytest.raises(ValueError, match="no button"):
        await server.user_presses_button(ALICE, stored, "maybe")  # clients cannot press what is not there
    query = await server.user_presses_button(ALICE, stored, "yes")
    updates = await bot.get_updates()
    callback = updates[-1].callback_query
    assert callback is not None and callback.data == "yes" and callback.id == query["id"]
    assert callback.message is not None and callback.message.message_id == menu.message_id
    assert callback.from_user.id == ALICE and callback.chat_instance

    assert await bot.answer_callback_query(callback.id, text="Noted")
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(callback.id)
    assert server.last_error()["description"] == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    with pytest.raises(BadRequest):
        await bot.answer_callback_query("1234567")
    late = await server.user_presses_button(ALICE, stored, "no")
    await asyncio.sleep(0.6)
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(late["id"])
    assert server.last_error()["description"].startswith("Bad Request: query is too old")

    forged = await server.user_presses_button(ALICE, stored, "admin:delete_all", force=True)
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(forged["id"], text="x" * 201)
    assert server.last_error()["description"] == "Bad Request: MESSAGE_TOO_LONG"
    assert [(a.callback_query_id, a.text) for a in server.callback_answers] == [(callback.id, "Noted")]


# --------------------------------------------------------------------------------------------------
# Edits and deletions
# --------------------------------------------------------------------------------------------------


async def test_edits_and_deletions(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    incoming = await server.user_sends_text(ALICE, "/start")
    sent = await bot.send_message(ALICE, "Status: open", reply_markup=keyboard("ack"))

    with pytest.raises(BadRequest):
        await bot.edit_message_text("Status: open", ALICE, sent.message_id, reply_markup=keyboard("ack"))
    assert server.last_error()["description"] == (
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
        "same as a current content and reply markup of the message"
    )
    edited = await bot.edit_message_text("Status: acknowledged", ALICE, sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.text == "Status: acknowledged" and edited.reply_markup is None  # no markup given: removed
    assert edited.edit_date is not None
    stored = server.message(ALICE, sent.message_id)
    assert stored.edit_history == ["Status: open"] and stored.reply_markup is None

    await bot.edit_message_reply_markup(ALICE, sent.message_id, reply_markup=keyboard("reopen"))
    assert server.message(ALICE, sent.message_id).callback_data() == ["reopen"]
    with pytest.raises(BadRequest):
        await bot.edit_message_text("x" * 4097, ALICE, sent.message_id)
    assert server.last_error()["description"] == "Bad Request: MESSAGE_TOO_LONG"
    with pytest.raises(BadRequest):
        await bot.edit_message_text("hi", ALICE, incoming["message_id"])
    assert server.last_error()["description"] == "Bad Request: message can't be edited"
    with pytest.raises(BadRequest):
        await bot.edit_message_text("hi", ALICE, 999)
    assert server.last_error()["description"] == "Bad Request: message to edit not found"

    assert await bot.delete_message(ALICE, sent.message_id)
    assert server.message(ALICE, sent.message_id).deleted
    with pytest.raises(BadRequest):
        await bot.delete_message(ALICE, sent.message_id)
    assert server.last_error()["description"] == "Bad Request: message to delete not found"
    with pytest.raises(ValueError):
        await server.user_presses_button(ALICE, sent.message_id, "reopen")
    assert [m.message_id for m in server.sent_messages(ALICE, include_deleted=False)] == []


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


async def test_photo_and_document_upload_and_download(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE)
    png = make_png(40, 30)
    message = await bot.send_photo(ALICE, png, caption="<b>evidence</b>", parse_mode="HTML")
    (size,) = message.photo
    assert (size.width, size.height, size.file_size) == (40, 30, len(png))
    assert message.caption == "evidence" and message.caption_entities[0].type == "bold"
    file = await bot.get_file(size.file_id)
    assert file.file_path is not None and file.file_unique_id == size.file_unique_id
    assert bytes(await file.download_as_bytearray()) == png

    document = await bot.send_document(ALICE, b"line 1\nline 2\n", filename="notes.txt")
    assert document.document is not None and document.document.file_name == "notes.txt"
    again = await bot.send_document(ALICE, document.document.file_id)  # re-sending by file_id
    assert again.document is not None and again.document.file_unique_id == document.document.file_unique_id
    with pytest.raises(BadRequest):
        await bot.send_photo(ALICE, document.document.file_id)
    assert server.last_error()["description"] == "Bad Request: type of file mismatch"

    with pytest.raises(BadRequest):
        await bot.send_photo(ALICE, b"not an image at all")
    assert server.last_error()["description"] == "Bad Request: IMAGE_PROCESS_FAILED"
    with pytest.raises(BadRequest):
        await bot.get_file("nonsense")
    assert server.last_error()["description"] == "Bad Request: invalid file_id"

    # what users send can be fetched too
    incoming = await server.user_sends_photo(ALICE, make_png(8, 8), caption="here")
    updates = await bot.get_updates()
    photo = updates[-1].message.photo[-1]  # type: ignore[union-attr]
    assert photo.file_id == incoming["photo"][-1]["file_id"]
    assert bytes(await (await bot.get_file(photo.file_id)).download_as_bytearray()) == make_png(8, 8)


async def test_other_user_content_parses_in_ptb(server: FakeBotApi, bot: telegram.Bot) -> None:
    await server.add_group(FORUM, "Incidents", is_forum=True, members=[ALICE])
    sent = await server.user_sends_text(ALICE, "first")
    await server.user_edits_message(ALICE, sent["message_id"], "first (edited)")
    await server.user_shares_location(ALICE, 52.52, 13.405, live_period=600)
    await server.user_sends_sticker(ALICE, "🔥")
    await server.user_sends_document(ALICE, b"%PDF-1.4", "report.pdf", "application/pdf")
    topic = await server.user_creates_topic(ALICE, FORUM, "Lost & found")
    await server.user_sends_text(ALICE, "/start abc123")
    updates = await bot.get_updates()
    kinds = [u.effective_message.effective_attachment if u.effective_message else None for u in updates]
    assert updates[1].edited_message is not None and updates[1].edited_message.text == "first (edited)"
    location = updates[2].message.location  # type: ignore[union-attr]
    assert location is not None and location.latitude == pytest.approx(52.52)
    assert location.api_kwargs == {} and server.pending_updates[2]["message"]["location"]["live_period"] == 600
    assert isinstance(kinds[3], telegram.Sticker) and kinds[3].emoji == "🔥"
    assert isinstance(kinds[4], telegram.Document) and kinds[4].mime_type == "application/pdf"
    created = updates[5].message
    assert created is not None and created.forum_topic_created is not None
    assert created.forum_topic_created.name == "Lost & found" and created.message_id == topic["message_thread_id"]
    deep_link = updates[6].message
    assert deep_link is not None and deep_link.text == "/start abc123"
    assert deep_link.entities[0].type == "bot_command" and deep_link.entities[0].length == len("/start")


async def test_chat_action_reaction_and_location(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    incoming = await server.user_sends_text(ALICE, "/start")
    assert await bot.send_chat_action(ALICE, "typing")
    with pytest.raises(BadRequest):
        await bot.send_chat_action(ALICE, "dancing")
    assert server.last_error()["description"] == "Bad Request: wrong parameter action in request"
    assert await bot.set_message_reaction(ALICE, incoming["message_id"], "👍")
    assert server.message(ALICE, incoming["message_id"]).reactions == [{"type": "emoji", "emoji": "👍"}]
    with pytest.raises(BadRequest):
        await bot.set_message_reaction(ALICE, incoming["message_id"], "🦖")
    assert server.last_error()["description"] == "Bad Request: REACTION_INVALID"
    place = await bot.send_location(ALICE, 48.2, 16.37)
    assert place.location is not None and place.location.latitude == pytest.approx(48.2)
    assert server.chat_actions[0][:2] == (ALICE, "typing")


# --------------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------------


async def test_ambiguous_send_times_out_but_is_delivered(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE, BOB)
    server.ambiguous_next("sendMessage", chat_id=ALICE)
    with pytest.raises(TimedOut):
        await bot.send_message(ALICE, "did this arrive?", read_timeout=0.3)
    assert [m.text for m in server.sent_messages(ALICE)] == ["did this arrive?"]
    assert (await bot.send_message(ALICE, "second")).text == "second"  # only the next call was affected

    server.ambiguous_next("sendMessage", mode="drop")
    with pytest.raises(NetworkError):
        await bot.send_message(BOB, "dropped after sending")
    assert [m.text for m in server.sent_messages(BOB)] == ["dropped after sending"]


async def test_injected_errors_have_no_effect(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE, BOB)
    server.fail_next("sendMessage", 2, chat_id=ALICE, error_code=502)
    server.fail_next("sendMessage", chat_id=BOB, error_code=429, retry_after=7)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(ALICE, "x")
    assert server.last_error() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(BOB, "x")
    assert seconds(caught.value.retry_after) == 7
    assert server.sent_messages() == []
    await bot.send_message(ALICE, "now it works")
    server.fail_next("getUpdates", error_code=500)
    with pytest.raises(NetworkError):
        await bot.get_updates()
    assert len(await bot.get_updates()) == 2  # the two /start messages are still there


async def test_wait_helpers_wake_on_sends(server: FakeBotApi, bot: telegram.Bot) -> None:
    server.rate_limits = RateLimits.disabled()
    await started(server, ALICE)

    async def later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(ALICE, "first")
        await bot.send_message(ALICE, "second")

    task = asyncio.create_task(later())
    message = await server.wait_for_message(ALICE, lambda m: m.text == "second", timeout=3)
    both = await server.wait_for_messages(ALICE, 2, timeout=1)
    await task
    assert message.text == "second" and [m.text for m in both] == ["first", "second"]
    with pytest.raises(AssertionError, match="the bot sent there"):
        await server.wait_for_message(ALICE, after_message_id=message.message_id, timeout=0.2)


async def test_a_ptb_application_polls_and_answers(server: FakeBotApi) -> None:
    """The whole PTB machinery (Application, Updater, handlers) against the fake."""
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        payload = context.args[0] if context.args else "-"
        await context.bot.send_message(update.effective_chat.id, f"Welcome ({payload})", reply_markup=keyboard("go"))

    async def pressed(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("Pressed")

    application = (
        ApplicationBuilder().token(TOKEN).base_url(server.base_url).base_file_url(server.base_file_url).build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(pressed))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=5, drop_pending_updates=True)
        await server.user_sends_text(ALICE, "/start deep-link")
        welcome = await server.wait_for_message(ALICE, lambda m: (m.text or "").startswith("Welcome"))
        assert welcome.text == "Welcome (deep-link)"
        await server.user_presses_button(ALICE, welcome, "go")
        await server.wait_until(lambda: server.message(ALICE, welcome.message_id).text == "Pressed")
        assert [a.text for a in server.callback_answers] == ["ok"]
        await application.updater.stop()
        await application.stop()
    assert server.calls("deleteWebhook")[0].params.get("drop_pending_updates") == "true"
    assert server.pending_updates == []  # PTB confirmed what it processed on shutdown


def test_parsers_report_tdlib_byte_offsets() -> None:
    assert parse_html("é<b>x</b>") == ("éx", [{"type": "bold", "offset": 1, "length": 1}])
    assert parse_html("😀<i>x</i>")[1] == [{"type": "italic", "offset": 2, "length": 1}]
    assert parse_html('<pre><code class="language-py">x</code></pre>')[1] == [
        {"type": "pre", "offset": 0, "length": 1, "language": "py"}
    ]
    with pytest.raises(Exception, match='Unsupported start tag "br" at byte offset 2'):
        parse_html("é<br>")
    assert parse_markdown_v2("||s|| __u__ ~t~ `c`")[0] == "s u t c"
    with pytest.raises(Exception, match="Character '!' is reserved"):
        parse_markdown_v2("hi!")


# --------------------------------------------------------------------------------------------------
# Standalone process and control API
# --------------------------------------------------------------------------------------------------


async def test_standalone_process_with_control_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.telegram_api",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--private-rate",
        "off",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("FAKE_TELEGRAM_API_READY port="), line
        port = int(line.split("port=")[1].split()[0])
        control = f"http://127.0.0.1:{port}/_control"
        async with aiohttp.ClientSession() as http:

            async def call(verb: str, path: str, body: object = None) -> object:
                async with http.request(verb, control + path, json=body) as response:
                    payload = await response.json()
                    assert response.status == 200, payload
                    return payload

            await call("POST", "/users", {"id": ALICE, "first_name": "Alice"})
            await call("POST", "/messages", {"user_id": ALICE, "text": "/start"})
            async with telegram.Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot") as bot:
                (update,) = await bot.get_updates(timeout=5)
                assert update.message is not None and update.message.text == "/start"
                await bot.send_message(ALICE, "Hello from PTB", reply_markup=keyboard("ok"))
                sent = await call("POST", "/wait", {"chat_id": ALICE, "text_contains": "Hello", "timeout": 5})
                assert isinstance(sent, dict)
                (record,) = sent["result"]
                assert record["message"]["text"] == "Hello from PTB"
                await call(
                    "POST", "/press", {"user_id": ALICE, "message_id": record["message_id"], "callback_data": "ok"}
                )
                updates = await bot.get_updates(offset=update.update_id + 1, timeout=5)
                assert updates[0].callback_query is not None
                assert await bot.answer_callback_query(updates[0].callback_query.id)
                await call(
                    "POST", "/faults", {"method": "sendMessage", "error_code": 403, "description": "Forbidden: x"}
                )
                with pytest.raises(Forbidden):
                    await bot.send_message(ALICE, "nope")
                state = await call("GET", "/state")
                assert isinstance(state, dict) and state["get_updates_calls"] == 2
                answers = await call("GET", "/callback_answers")
                assert isinstance(answers, dict) and len(answers["result"]) == 1
            async with http.post(control + "/messages", json={"user_id": 5}) as response:
                assert response.status == 400 and "error" in await response.json()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
    stderr = await process.stderr.read() if process.stderr else b""
    assert process.returncode == 0, stderr.decode()
