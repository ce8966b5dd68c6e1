"""Telegram-specific behaviour, end to end: the real bot against the fake Bot API server over HTTP.

The shared journeys (tests/contract/test_journeys.py) run on Telegram too; these tests cover what
only Telegram has: forum topics, deep links, ``language_code``, files and locations, edits, stickers,
the 4096-unit limit, signed buttons, command menus, 403s, and what each Bot API error means.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.telegram import buttons
from adapters.telegram.transport import TelegramTransport
from adapters.telegram.wiring import command_menus
from bot.config import TelegramSettings
from bot.domain.ids import CaseRef, ChatAddress, SpaceId
from bot.domain.model import Lane
from bot.i18n import Catalogs
from bot.messages import (
    Ambiguous,
    Delivered,
    EditCard,
    Failed,
    Outgoing,
    PostCard,
    Rejected,
    RetryLater,
    Send,
    Unreachable,
)
from bot.ports import RateLimits
from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeBotApi, make_png
from tests.harness import reference_in
from tests.telegram_harness import PEOPLE, ROOM, TelegramHarness, telegram_haven, telegram_space

pytestmark = pytest.mark.telegram_server

RITA, ANA, BEN, CORA, MALLORY, TOM = (PEOPLE[n] for n in ("rita", "ana", "ben", "cora", "mallory", "tom"))


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[TelegramHarness]:
    async with telegram_haven(tmp_path) as harness:
        yield harness


# --- the team room -------------------------------------------------------------------------------------


async def test_each_case_gets_its_own_forum_topic_holding_its_card_and_pages(h: TelegramHarness) -> None:
    await h.command("rita", "report", "Someone is following people around")
    first = reference_in(h.received("rita")[-2])
    await h.command("tom", "emergency")
    second = reference_in(h.last("tom"))
    topics = h.server.topics(ROOM)
    assert sorted(t.name for t in topics.values()) == sorted(
        [f"{first} · Something else", f"{second} · Something else"]
    )
    for ref in (first, second):
        card = h.card(ref)
        assert card.message_thread_id in topics and topics[card.message_thread_id].name.startswith(ref)
        pages = [m for m in h.room_messages() if m.text and m.text.startswith("Paging") and ref in m.text]
        assert pages and all(m.message_thread_id == card.message_thread_id for m in pages)
    # inside a case's topic the reference may be left out; elsewhere /ack@bot REF works
    await h.room_command("ana", "ack", thread=h.card(first).message_thread_id)
    assert "acknowledged, nobody has taken it yet" in (h.card(first).text or "")
    await h.room_command("ben", "ack", second)
    assert "acknowledged" in (h.card(second).text or "")
    assert "has seen your emergency report" in h.last("tom")


async def test_paged_people_are_mentioned_so_that_telegram_notifies_them(h: TelegramHarness) -> None:
    await h.command("rita", "emergency")
    page = next(m for m in h.room_messages() if (m.text or "").startswith("Paging"))
    mentioned = {e["user"]["id"] for e in page.entities if e["type"] == "text_mention"}
    assert mentioned == {ANA, BEN, CORA}


async def test_in_a_group_without_topics_the_card_collects_the_replies(tmp_path: Path) -> None:
    async with telegram_haven(tmp_path, forum=False) as h:
        await h.command("rita", "report", "A fight near the stage")
        ref = reference_in(h.received("rita")[-2])
        card = h.card(ref)
        assert card.message_thread_id is None and not h.server.topics(ROOM)
        await h.press_card("ana", ref, "claim")
        claimed = next(m for m in h.room_messages() if (m.text or "").startswith("🛡 Ana took"))
        assert claimed.json["reply_to_message"]["message_id"] == card.message_id
        # replying to the card names the case: no reference needed
        await h.say("ana", "/note@haven_test_bot Spoke to security", chat=ROOM, reply_to=card.message_id)
        assert h.room_texts()[-1] == "Note added. The reporter never sees notes."


# --- private chats ---------------------------------------------------------------------------------------


async def test_a_deep_link_chooses_the_space(tmp_path: Path) -> None:
    other = telegram_space(room=-1005550001, id=SpaceId("fest"), name="Winter Fest", code_word=None)
    async with telegram_haven(tmp_path, more_spaces=[other]) as h:
        await h.command("rita", "start", "fest")  # https://t.me/haven_test_bot?start=fest
        assert "This is Winter Fest's private reporting line" in h.received("rita")[-1]
        await h.command("rita", "report")
        assert h.last("rita") == "Is anyone in danger right now?", "the space is not asked again"


@pytest.mark.parametrize(("code", "language"), [("sv", "sv"), ("ky", "ky"), ("pt-br", "pt_BR"), ("nl", "en")])
async def test_the_first_language_comes_from_the_telegram_client(h: TelegramHarness, code: str, language: str) -> None:
    await h.say("rita", "/report My bag was stolen", language=code)
    ref = reference_in(h.received("rita")[-2])
    assert f"language: {language}" in (h.card(ref).text or "")


async def test_without_a_language_code_the_bot_asks_once(h: TelegramHarness) -> None:
    await h.say("rita", "/status", language=None)
    assert h.last("rita").endswith("Which language would you like?")
    assert "Svenska" in h.buttons("rita")
    await h.choose("rita", "Svenska")
    assert len([t for t in h.received("rita") if "Which language" in t]) == 1


async def test_photos_documents_and_locations_are_added_to_the_case(h: TelegramHarness) -> None:
    await h.command("rita", "report", "He keeps sending me messages")
    await h.choose("rita", "No, that is all")
    ref = reference_in(h.received("rita")[-3])
    await h.server.user_sends_photo(RITA, make_png(30, 20), caption="Screenshot")
    await h.settle()
    assert h.last("rita") == f"Added to your report {ref}. The team will see it."
    await h.server.user_sends_document(RITA, b"log", "chat.txt", "text/plain")
    await h.server.user_shares_location(RITA, 59.3293, 18.0686)
    await h.settle()
    await h.command("ana", "claim", ref)
    details = h.last("ana")
    assert "2 attachments" in details and "59.329300,18.068600" in details


async def test_an_edited_answer_is_explained_not_taken(h: TelegramHarness) -> None:
    await h.command("rita", "report")
    await h.choose("rita", "No")
    await h.choose("rita", "It happened to me")
    await h.choose("rita", "Harassment or unwanted contact")
    sent = await h.server.user_sends_text(RITA, "Yesterday")
    await h.settle()
    await h.server.user_edits_message(RITA, sent["message_id"], "Yesterday at noon")
    await h.settle()
    assert "I saw that you edited a message" in h.last("rita")
    assert "Who was involved?" in h.last("rita"), "the current question is asked again"


async def test_a_sticker_gets_a_short_explanation(h: TelegramHarness) -> None:
    await h.server.user_sends_sticker(RITA)
    await h.settle()
    assert h.last("rita") == "I can only read text, photos, files and locations. Please write your message as text."


async def test_texts_longer_than_4096_utf16_units_are_split(h: TelegramHarness) -> None:
    await h.command("rita", "report", "Threats in the chat")
    ref = reference_in(h.received("rita")[-2])
    await h.command("ana", "claim", ref)
    reply = "🙂" * 2500 + " and more words " * 40  # 2,500 characters, but 5,000 UTF-16 code units
    before = len(h.received("rita"))
    await h.command("ana", "reply", f"{ref} {reply.strip()}")
    parts = h.received("rita")[before:]
    assert len(parts) == 2
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "".join("".join(parts).split()) == "".join(f"Response team: {reply}".split()), "nothing is lost"


# --- buttons ---------------------------------------------------------------------------------------------


async def test_forged_and_foreign_buttons_are_refused_and_every_press_is_answered(h: TelegramHarness) -> None:
    await h.command("tom", "start")
    await h.command("rita", "report")
    question = h.question("rita")
    forged = "1.AAAAAAAAAAAA.sos"
    await h.server.user_presses_button(RITA, question, forged, force=True)
    await h.settle()
    assert "That button is not valid here. Nothing was changed." in h.last("rita")
    toms_sos = next(d for d in h.question("tom").callback_data() if d.endswith(".sos"))
    await h.server.user_presses_button(RITA, question, toms_sos, force=True)  # replayed from another chat
    await h.settle()
    assert "That button is not valid here" in h.last("rita")
    assert h.card_texts() == [], "no emergency was raised"
    await h.choose("rita", "No")
    await h.server.wait_until(lambda: len(h.server.callback_answers) == 3, what="every press answered")
    assert all(a.delay < 5 for a in h.server.callback_answers)


async def test_card_buttons_from_strangers_are_refused(h: TelegramHarness) -> None:
    await h.command("rita", "report", "Broken glass at the bar")
    ref = reference_in(h.received("rita")[-2])
    await h.press_card("mallory", ref, "claim")
    assert h.room_texts()[-1] == "This command is for the response team."
    assert "waiting for acknowledgement" in (h.card(ref).text or "")


async def test_command_menus_per_language_and_scope(tmp_path: Path) -> None:
    expected = len(command_menus(Catalogs(), [f"telegram:{ROOM}"]))
    async with FakeBotApi(DEFAULT_TOKEN) as server:
        for name, user in PEOPLE.items():
            await server.add_user(user, name.title(), language_code="sv" if name == "rita" else "en")
            server.users[user].started = True
        async with telegram_haven(tmp_path, server=server) as h:
            await h.server.wait_until(lambda: len(server.calls("setMyCommands")) == expected, what="the menus")
            while await h.haven.store.recall("telegram.menus") is None:  # noqa: ASYNC110 - the store has no event
                await asyncio.sleep(0.01)
        rita = {c["command"]: c["description"] for c in server.commands_seen_by(RITA)}
        assert rita["emergency"] == "Någon är i fara: larma teamet nu" and "ack" not in rita
        tom = {c["command"]: c["description"] for c in server.commands_seen_by(TOM)}
        assert tom["emergency"] == "Someone is in danger: alert the team now"
        room = {c["command"]: c["description"] for c in server.commands_seen_by(ANA, ROOM)}
        assert room["ack"] == "Acknowledge a case: stops its escalation" and "report" not in room
        async with telegram_haven(tmp_path, server=server) as again:
            await again.command("rita", "status")
        assert len(server.calls("setMyCommands")) == expected, "unchanged menus are not sent again after a restart"


# --- who gets an answer ----------------------------------------------------------------------------------


async def test_groups_that_are_not_team_rooms_get_silence(h: TelegramHarness) -> None:
    other = -1009876543210
    await h.server.add_group(other, "Random chat", members=[TOM, ANA], bot_status="administrator")
    await h.say("tom", "/report@haven_test_bot Someone is mean", chat=other)
    await h.say("ana", "/cases@haven_test_bot", chat=other)
    await h.say("tom", "hello everyone", chat=other)
    assert h.server.sent_messages(other) == []
    assert h.card_texts() == []


async def test_responder_commands_from_strangers_are_refused(h: TelegramHarness) -> None:
    await h.command("rita", "report", "Somebody took my phone")
    ref = reference_in(h.received("rita")[-2])
    await h.room_command("mallory", "ack", ref)
    assert h.room_texts()[-1] == "This command is for the response team."
    await h.command("tom", "resolve", f"{ref} no-action")
    assert h.last("tom") == "This command is for the response team."
    assert "waiting for acknowledgement" in (h.card(ref).text or "")


async def test_a_responder_who_never_started_the_bot_is_reported_to_the_coordinators(tmp_path: Path) -> None:
    async with FakeBotApi(DEFAULT_TOKEN) as server:
        for name, user in PEOPLE.items():
            await server.add_user(user, name.title())
            server.users[user].started = name != "ben"
        async with telegram_haven(tmp_path, server=server) as h:
            await h.command("rita", "emergency")
            ref = reference_in(h.last("rita"))
            await h.settle()
            assert any(f"I could not reach Ben about {ref} (has not started the bot)" in t for t in h.received("cora"))
            assert h.received("ben") == []


# --- delivery results over real HTTP ---------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(DEFAULT_TOKEN) as api:
        await api.add_user(RITA, "Rita")
        await api.add_user(ANA, "Ana")
        await api.user_sends_text(RITA, "/start")
        await api.add_group(ROOM, "Team", is_forum=True, members=[ANA])
        yield api


def transport_for(base_url: str, **kwargs: float) -> TelegramTransport:
    settings = TelegramSettings(DEFAULT_TOKEN, base_url=base_url, limits=RateLimits(None, None, None))
    return TelegramTransport(settings, lambda: bytes(32), **kwargs)


def item(effect: Send | PostCard | EditCard, lane: Lane = Lane.CONVERSATION, card_ref: str | None = None) -> Outgoing:
    return Outgoing(1, "k", lane, effect, card_ref=card_ref)


async def test_bot_api_answers_become_delivery_results(server: FakeBotApi) -> None:
    transport = transport_for(server.base_url, send_timeout=0.5)
    to_rita = item(Send(ChatAddress(f"telegram:{RITA}"), "hello"))
    try:
        assert isinstance(await transport.deliver(to_rita), Delivered)
        server.fail_next("sendMessage", error_code=429, retry_after=3)
        assert await transport.deliver(to_rita) == RetryLater(3.0)
        server.fail_next("sendMessage", error_code=500)
        assert isinstance(await transport.deliver(to_rita), Failed)
        server.fail_next("sendMessage", error_code=400, description="Bad Request: message is too long")
        assert isinstance(await transport.deliver(to_rita), Rejected)
        server.ambiguous_next("sendMessage", mode="hang", hold_seconds=2)
        assert isinstance(await transport.deliver(to_rita), Ambiguous), "the request left; no answer came"
        server.ambiguous_next("sendMessage", mode="drop")
        assert isinstance(await transport.deliver(to_rita), Ambiguous)
        to_ana = item(Send(ChatAddress(f"telegram:{ANA}"), "page"), Lane.EMERGENCY)
        assert await transport.deliver(to_ana) == Unreachable("has not started the bot")
        await server.user_blocks_bot(RITA)
        assert await transport.deliver(to_rita) == Unreachable("blocked the bot")
        nobody = item(Send(ChatAddress("telegram:999"), "x"))
        assert isinstance(await transport.deliver(nobody), Unreachable)
        card = await transport.deliver(
            item(PostCard(ChatAddress(f"telegram:{ROOM}"), CaseRef("K7F-3QX"), "c", (), "t"))
        )
        assert isinstance(card, Delivered) and card.thread is not None
        same = item(EditCard(ChatAddress(f"telegram:{ROOM}"), CaseRef("K7F-3QX"), "c"), card_ref=card.message)
        assert await transport.deliver(same) == Delivered(card.message), "message is not modified: already there"
    finally:
        await transport.stop()
    refused = transport_for(f"http://127.0.0.1:{_closed_port()}/bot")
    try:
        assert isinstance(await refused.deliver(to_rita), Failed), "the request never left: safe to retry"
    finally:
        await refused.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_ambiguous_emergency_page_is_sent_again_but_a_receipt_is_not(h: TelegramHarness) -> None:
    h.server.ambiguous_next("sendMessage", chat_id=RITA, mode="drop")
    await h.command("rita", "report", "Someone collapsed")  # the receipt arrives, its answer does not
    assert len([t for t in h.received("rita") if "stored safely" in t]) == 1, "at most once"
    h.server.ambiguous_next("sendMessage", chat_id=ANA, mode="drop")
    await h.command("tom", "emergency")
    ref = reference_in(h.last("tom"))
    assert len([t for t in h.received("ana") if "EMERGENCY" in t and ref in t]) == 2, "at least once"


async def test_retry_after_holds_back_only_that_chat(h: TelegramHarness) -> None:
    h.server.fail_next("sendMessage", chat_id=RITA, error_code=429, retry_after=1)
    started = time.monotonic()
    await h.command("rita", "emergency")
    ana_page = next(m for m in h.server.sent_messages(ANA) if "EMERGENCY" in (m.text or ""))
    rita_reply = h.server.sent_messages(RITA)[0]
    assert ana_page.sent_at - started < 0.9 <= rita_reply.sent_at - started


async def test_button_data_carries_the_chat_binding(h: TelegramHarness) -> None:
    await h.command("rita", "report")
    for data in h.question("rita").callback_data():
        assert buttons.verify(h.haven.store.secret("buttons"), str(RITA), data) is not None
        assert buttons.verify(h.haven.store.secret("buttons"), str(TOM), data) is None


# --- limits ----------------------------------------------------------------------------------------------

#: Telegram's shape (per private chat per second, per group per minute, overall per second), faster.
PACED = RateLimits(global_per_second=150.0, private_per_second=2.0, group_per_minute=120.0, max_text=4096)
PACED_SERVER = fake.RateLimits(
    private=fake.RateLimit(2, 1.0), group=fake.RateLimit(120, 60.0), global_=fake.RateLimit(150, 1.0)
)
CROWD = range(100_001, 100_201)  # 200 people who started the bot


async def test_an_emergency_overtakes_a_thousand_queued_messages_within_every_limit(tmp_path: Path) -> None:
    async with FakeBotApi(DEFAULT_TOKEN, rate_limits=PACED_SERVER) as server:
        for user in (*PEOPLE.values(), *CROWD):
            await server.add_user(user, "Guest")
            server.users[user].started = True
        async with telegram_haven(tmp_path, server=server, limits=PACED) as h:
            async with h.haven.store.transaction() as tx:
                for n in range(1000):
                    notice = Send(ChatAddress(f"telegram:{CROWD[n % len(CROWD)]}"), f"Notice {n}")
                    await tx.enqueue(f"bulk:{n}", Lane.CONVERSATION, notice)
            h.haven.senders["telegram"].wake()
            await server.wait_until(lambda: len(server.send_log) >= 100, what="the backlog to start leaving")
            triggered = len(server.send_log)
            await server.user_sends_text(RITA, "/emergency")
            await server.wait_until(lambda: len(server.send_log) >= 1006, what="everything to leave", timeout=20)
            await h.settle()
        crowd = set(CROWD)
        backlog = [r.chat_id in crowd for r in server.send_log]
        emergency = [i for i, is_backlog in enumerate(backlog) if not is_backlog]
        assert {server.send_log[i].chat_id for i in emergency} == {RITA, ANA, BEN, CORA, ROOM}
        overtaken = backlog[emergency[-1] :].count(True)
        assert overtaken > 800, f"the emergency left before the backlog ({overtaken} queued messages waited)"
        assert backlog[triggered : emergency[-1]].count(True) < 60
        assert backlog.count(True) == 1000
        server.assert_rate_limits_respected()
        assert server.rate_limited == [], "the bot paced itself: Telegram never had to answer 429"


async def test_a_message_held_back_by_its_chats_limit_leaves_as_soon_as_the_chat_is_free(tmp_path: Path) -> None:
    async with FakeBotApi(DEFAULT_TOKEN, rate_limits=PACED_SERVER) as server:
        for user in PEOPLE.values():
            await server.add_user(user, "Guest")
            server.users[user].started = True
        async with telegram_haven(tmp_path, server=server, limits=PACED) as h:
            for n in range(3):  # two per second: the third is queued while the chat's window is closed
                async with h.haven.store.transaction() as tx:
                    await tx.enqueue(f"note:{n}", Lane.CONVERSATION, Send(ChatAddress(f"telegram:{RITA}"), f"Note {n}"))
                h.haven.senders["telegram"].wake()
                await server.wait_until(lambda n=n: len(server.sent_messages(RITA)) > n, what=f"note {n}", timeout=20)
        first, _, third = (m.sent_at for m in server.sent_messages(RITA))
        assert 0.5 <= third - first < 5, "held back by the per-chat limit, then sent without waiting for a wake-up"


async def test_receiving_survives_errors_and_outages(h: TelegramHarness) -> None:
    await h.server.wait_until(lambda: h.transport.last_contact is not None, what="getMe")
    h.server.fail_next("getUpdates", error_code=502)
    await h.server.user_sends_text(RITA, "/status")
    await h.server.wait_until(lambda: bool(h.server.sent_messages(RITA)), timeout=10, what="an answer after the outage")
    h.server.fail_next("getUpdates", error_code=409, description="Conflict: terminated by other getUpdates request")
    await h.command("rita", "status")
    assert len(h.received("rita")) == 2, "the next update after a 409 is received too"
