"""The pure parts of the Telegram adapter: update mapping (from recorded updates), button data,
rendering, and what Bot API errors mean for the outbox. No network (see tests/unit/conftest.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut

from adapters.telegram import buttons, render
from adapters.telegram.inbound import to_facts
from adapters.telegram.transport import outcome
from adapters.telegram.wiring import command_menus
from bot.domain.ids import ChatAddress, Identity
from bot.domain.model import Lane
from bot.i18n import Catalogs
from bot.logs import Redactor, redact
from bot.messages import (
    Ambiguous,
    AttachmentReceived,
    Button,
    ButtonRejected,
    ChoicePicked,
    CommandReceived,
    Delivered,
    EditCard,
    Failed,
    LocationShared,
    Outgoing,
    PostCard,
    Rejected,
    RetryLater,
    Send,
    TextReceived,
    Unreachable,
    Unsupported,
)
from flows import menus

UPDATES: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "telegram_updates.json").read_text())
SECRET = bytes([7]) * 32  # what the recorded buttons were signed with
BOT = "haven_test_bot"


def facts(name: str) -> list[Any]:
    return to_facts(UPDATES[name], SECRET, BOT)


# --- inbound: recorded updates -> facts ----------------------------------------------------------------


def test_a_private_text_becomes_text_with_the_language_and_the_sender() -> None:
    [fact] = facts("private_text")
    assert isinstance(fact, TextReceived) and fact.text == "Hello there <b>&</b>" and not fact.edited
    assert fact.origin.chat == "telegram:5001" and fact.origin.sender == "telegram:5001"
    assert fact.origin.private and fact.origin.language_hint == "sv" and fact.origin.sender_name == "Rita Q"
    assert fact.origin.thread is None


def test_commands_keep_their_arguments_and_a_deep_link_names_the_space() -> None:
    [start] = facts("private_start_deep_link")
    assert start == CommandReceived(start.origin, "start", "demo")
    [report] = facts("private_command_with_text")
    assert report.name == "report" and report.args == "A man keeps touching people\nat the bar"
    [status] = facts("private_command_no_language")
    assert status.name == "status" and status.origin.language_hint is None


def test_an_edited_private_message_is_marked_edited_and_never_a_command() -> None:
    [fact] = facts("private_edited_text")
    assert fact == TextReceived(fact.origin, "In the lobby, at 22:00", edited=True)


def test_photos_documents_and_locations_are_accepted() -> None:
    [photo] = facts("private_photo")
    assert isinstance(photo, AttachmentReceived) and photo.caption == "This is him"
    assert photo.attachment.kind == "photo" and photo.attachment.mime == "image/jpeg" and photo.attachment.size > 0
    assert photo.attachment.ref == UPDATES["private_photo"]["message"]["photo"][-1]["file_id"]
    [document] = facts("private_document")
    assert isinstance(document, AttachmentReceived)
    assert (document.attachment.kind, document.attachment.name, document.attachment.mime) == (
        "document",
        "log.txt",
        "text/plain",
    )
    [location] = facts("private_location")
    assert location == LocationShared(location.origin, 59.3293, 18.0686)


def test_a_sticker_is_unsupported() -> None:
    [fact] = facts("private_sticker")
    assert fact == Unsupported(fact.origin, "sticker")


def test_a_signed_button_is_picked_with_its_question() -> None:
    [fact] = facts("private_button")
    assert isinstance(fact, ChoicePicked)
    assert (fact.key, fact.question) == ("role:affected", 3)
    assert fact.origin.chat == "telegram:5001" and fact.message is not None


@pytest.mark.parametrize(
    "name", ["private_button_forged", "private_button_from_another_chat", "private_button_garbage"]
)
def test_forged_foreign_or_unreadable_button_data_is_rejected(name: str) -> None:
    [fact] = facts(name)
    assert isinstance(fact, ButtonRejected) and fact.origin.chat == "telegram:5001"


def test_buttons_signed_with_another_key_are_rejected() -> None:
    [fact] = to_facts(UPDATES["private_button"], bytes(32), BOT)
    assert isinstance(fact, ButtonRejected)


def test_a_room_command_addressed_to_the_bot_carries_its_topic() -> None:
    [fact] = facts("room_command_in_topic")
    assert fact == CommandReceived(fact.origin, "ack", "K7F-3QX")
    assert not fact.origin.private and fact.origin.chat == "telegram:-1001234567890"
    assert fact.origin.sender == "telegram:2001" and fact.origin.thread == "1"
    [bare] = facts("room_command_without_reference")
    assert bare.name == "claim" and bare.args == "" and bare.origin.thread == "1"


def test_a_command_for_another_bot_is_ignored_once_the_username_is_known() -> None:
    assert facts("room_command_for_another_bot") == []
    [fact] = to_facts(UPDATES["room_command_for_another_bot"], SECRET, None)
    assert fact.name == "start"


def test_a_card_button_in_the_room_is_picked_without_a_question() -> None:
    [fact] = facts("room_card_button")
    assert isinstance(fact, ChoicePicked) and (fact.key, fact.question) == ("ack:K7F-3QX", None)
    assert fact.origin.sender == "telegram:2001" and not fact.origin.private


def test_a_reply_in_a_plain_group_points_at_the_replied_message() -> None:
    [fact] = facts("group_reply_to_card")
    assert fact.name == "cases" and fact.origin.reply_to == "1"


@pytest.mark.parametrize("name", ["room_service_topic_created", "room_edited_command", "my_chat_member_blocked"])
def test_service_messages_group_edits_and_membership_changes_give_nothing(name: str) -> None:
    assert facts(name) == []


def test_anonymous_admins_bots_channels_and_garbage_give_no_crash() -> None:
    room = {"id": -1001234567890, "type": "supergroup", "title": "Team"}
    anonymous = {
        "update_id": 1,
        "message": {
            "message_id": 9,
            "from": {"id": 1087968824, "is_bot": True, "first_name": "Group"},
            "sender_chat": room,
            "chat": room,
            "date": 0,
            "text": "/cases",
        },
    }
    [fact] = to_facts(anonymous, SECRET, BOT)
    assert fact.origin.sender == "telegram:-1001234567890"  # not a responder: the core refuses
    from_bot = {"update_id": 2, "message": {**anonymous["message"], "sender_chat": None}}
    del from_bot["message"]["sender_chat"]
    assert to_facts(from_bot, SECRET, BOT) == []
    channel = {"update_id": 3, "channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "text": "x"}}
    assert to_facts(channel, SECRET, BOT) == []
    for garbage in ({}, {"message": None}, {"message": {"chat": {}}}, {"callback_query": {"from": {}}}):
        assert to_facts(garbage, SECRET, BOT) == []


# --- button data ---------------------------------------------------------------------------------------


def test_button_data_is_bound_to_chat_question_and_key() -> None:
    data = buttons.sign(SECRET, "5001", "cat:harassment", 12)
    assert buttons.verify(SECRET, "5001", data) == ("cat:harassment", 12)
    assert buttons.verify(SECRET, "5002", data) is None
    assert buttons.verify(SECRET, "5001", data.replace("12.", "13.", 1)) is None
    assert buttons.verify(SECRET, "5001", data.replace("harassment", "assault")) is None
    assert buttons.verify(bytes(32), "5001", data) is None


def test_the_longest_button_keys_fit_telegrams_64_bytes() -> None:
    longest = "space:" + "a" * 32  # space ids have at most 32 characters
    data = buttons.sign(SECRET, "-1001234567890", longest, 999_999_999)
    assert len(data.encode()) <= buttons.MAX_BYTES
    with pytest.raises(ValueError, match="64-byte"):
        buttons.sign(SECRET, "1", "x" * 60)


@given(st.text(min_size=1, max_size=30), st.one_of(st.none(), st.integers(0, 10**9)))
def test_any_key_round_trips(key: str, question: int | None) -> None:
    try:
        data = buttons.sign(SECRET, "42", key, question)
    except ValueError:
        return
    assert buttons.verify(SECRET, "42", data) == (key, question)


# --- rendering -----------------------------------------------------------------------------------------


def sign(chat: str, key: str, question: int | None) -> str:
    return buttons.sign(SECRET, chat, key, question)


def test_long_texts_are_split_in_utf16_units_at_word_boundaries() -> None:
    text = ("word " * 1000 + "🙂" * 3000).strip()  # each 🙂 is two UTF-16 code units
    pieces = render.split(text, 4096)
    assert all(render.utf16_len(piece) <= 4096 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    assert pieces[0].endswith("word") and len(pieces) == 3
    assert render.split("  short  ", 4096) == ["short"]


@given(st.text(alphabet=st.sampled_from("ab \n🙂é"), max_size=400), st.integers(2, 50))
def test_splitting_never_loses_text_or_exceeds_the_limit(text: str, limit: int) -> None:
    pieces = render.split(text, limit)
    assert all(0 < render.utf16_len(piece) <= limit for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


def test_text_is_escaped_and_mentions_link_the_names() -> None:
    assert render.html_text("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    linked = render.html_text("Paging Ana, Ben for K7F-3QX <now>.", [(2001, "Ana"), (2002, "Ben"), (2003, "Cora")])
    assert linked == (
        'Paging <a href="tg://user?id=2001">Ana</a>, <a href="tg://user?id=2002">Ben</a> for K7F-3QX &lt;now&gt;.'
        '\n<a href="tg://user?id=2003">Cora</a>'
    )
    assert render.html_text("Hi", [(7, "<i>")]) == 'Hi\n<a href="tg://user?id=7">&lt;i&gt;</a>'


def test_a_long_send_becomes_several_messages_with_the_buttons_on_the_last() -> None:
    send = Send(
        ChatAddress("telegram:5001"),
        "x " * 3000,
        ((Button("Yes", "yes"), Button("🆘", "sos", emergency=True)),),
        question=4,
    )
    calls = render.messages(send, sign, limit=4096)
    assert len(calls) == 2 and calls[0]["reply_markup"] is None
    data = [b.callback_data for row in calls[1]["reply_markup"].inline_keyboard for b in row]
    assert [buttons.verify(SECRET, "5001", str(d)) for d in data] == [("yes", 4), ("sos", 4)]
    assert all(call["parse_mode"] == "HTML" and call["chat_id"] == 5001 for call in calls)


def test_thread_replies_go_to_the_topic_or_reply_to_the_card() -> None:
    send = Send(ChatAddress("telegram:-1001"), "ok", in_thread=True)
    [topic] = render.messages(send, sign, limit=4096, card_ref="7", thread_ref="5")
    assert topic["message_thread_id"] == 5 and "reply_parameters" not in topic
    [reply] = render.messages(send, sign, limit=4096, card_ref="7")
    assert reply["reply_parameters"].message_id == 7 and "message_thread_id" not in reply
    [plain] = render.messages(Send(ChatAddress("telegram:-1001"), "ok"), sign, limit=4096, card_ref="7")
    assert "reply_parameters" not in plain and "message_thread_id" not in plain


def test_cards_topics_and_edits() -> None:
    post = PostCard(ChatAddress("telegram:-1001"), "K7F-3QX", "card", ((Button("Ack", "ack:K7F-3QX"),),), "K7F  · x")
    assert render.topic(post) == {"chat_id": -1001, "name": "K7F · x"}
    call = render.card(post, sign, limit=4096, thread=9)
    assert call["message_thread_id"] == 9
    [[button]] = call["reply_markup"].inline_keyboard
    assert buttons.verify(SECRET, "-1001", str(button.callback_data)) == ("ack:K7F-3QX", None)
    closed = render.edit(EditCard(ChatAddress("telegram:-1001"), "K7F-3QX", "closed " * 2000), 3, sign, limit=4096)
    assert closed["reply_markup"] is None and closed["message_id"] == 3
    assert render.utf16_len(closed["text"]) <= 4096 and closed["text"].endswith("…")


# --- what errors mean ----------------------------------------------------------------------------------

ITEM = Outgoing(1, "k", Lane.CONVERSATION, EditCard(ChatAddress("telegram:-1"), "K7F-3QX", "x"), card_ref="3")


def caused(error: NetworkError, cause: Exception) -> NetworkError:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RetryAfter(7), RetryLater(7.0)),
        (Forbidden("Forbidden: bot can't initiate conversation with a user"), Unreachable("has not started the bot")),
        (Forbidden("Forbidden: bot was blocked by the user"), Unreachable("blocked the bot")),
        (Forbidden("Forbidden: user is deactivated"), Unreachable("deleted their Telegram account")),
        (
            BadRequest("Chat not found"),
            Unreachable("the chat was not found (they have not started the bot, or the id is wrong)"),
        ),
        (BadRequest("Message is not modified: specified new message content ..."), Delivered("3")),
        (BadRequest("Message is too long"), Rejected("BadRequest: Message is too long")),
        (
            ChatMigrated(-100123),
            Rejected("the group became a supergroup with a new id: update team_room in the configuration"),
        ),
        (caused(TimedOut(), httpx.ReadTimeout("read")), Ambiguous("TimedOut: Timed out")),
        (
            caused(NetworkError("httpx.RemoteProtocolError: gone"), httpx.RemoteProtocolError("gone")),
            Ambiguous("NetworkError: httpx.RemoteProtocolError: gone"),
        ),
        (
            caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused")),
            Failed("NetworkError: httpx.ConnectError: refused"),
        ),
        (caused(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")), Failed("TimedOut: Pool timeout")),
        (NetworkError("Internal Server Error (500)"), Failed("NetworkError: Internal Server Error (500)")),
    ],
)
def test_bot_api_errors_become_delivery_results(error: Exception, expected: object) -> None:
    assert outcome(error, ITEM) == expected  # type: ignore[arg-type]


# --- command menus -------------------------------------------------------------------------------------


def test_command_menus_per_scope_and_language() -> None:
    found = command_menus(Catalogs(), [ChatAddress("telegram:-1001")])
    scopes = {(m.scope, m.language) for m in found}
    assert {("default", ""), ("all_private_chats", ""), (-1001, "")} <= scopes
    assert {("default", "sv"), ("all_private_chats", "sv"), (-1001, "sv")} <= scopes
    english = next(m for m in found if m.scope == "all_private_chats" and m.language == "")
    assert [name for name, _ in english.commands] == [name for name, _ in menus.REPORTER]
    team = next(m for m in found if m.scope == -1001 and m.language == "")
    assert [name for name, _ in team.commands] == [name for name, _ in menus.TEAM]
    swedish = next(m for m in found if m.scope == "all_private_chats" and m.language == "sv")
    assert swedish.commands != english.commands, "the Swedish menu is translated"
    assert ("all_private_chats", "ky") in scopes, "every shipped language has its reporters' menu"
    bengali_team = next(m for m in found if m.scope == -1001 and m.language == "bn")
    assert bengali_team.commands == team.commands, "untranslated team descriptions stay in English"
    assert all(len(description) <= 256 and description for m in found for _, description in m.commands)


def test_identities_are_strings() -> None:
    assert render.chat_id(Identity("telegram:-100123")) == -100123


def test_the_bot_token_is_masked_in_logged_request_urls() -> None:
    token = "123456789:AAF-fakeTokenForHavenTests_0123456789"
    record = logging.makeLogRecord(
        {"msg": 'HTTP Request: POST %s "HTTP/1.1 200 OK"', "args": (f"https://api.telegram.org/bot{token}/getUpdates",)}
    )
    Redactor().filter(record)
    assert token not in record.getMessage() and "/bot<token>/getUpdates" in record.getMessage()
    assert token not in redact(f"The token `{token}` was rejected by the server.")
