"""The Matrix adapter against a real Synapse, with real matrix-nio clients in encrypted rooms.

The journeys (tests/contract/test_journeys.py) already run on Matrix; these tests cover what is
Matrix's own: encryption on the wire, restarts on the same store, undecryptable and forged messages,
invites, reactions, long messages, and how the homeserver's answers become delivery results.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.matrix.homeserver import LocalSynapse
from adapters.matrix.people import BotWatch, MatrixPerson
from adapters.matrix.transport import MatrixTransport
from bot.bootstrap import open_store
from bot.config import MatrixSettings
from bot.domain.ids import CaseRef, ChatAddress
from bot.domain.model import Lane
from bot.messages import (
    Ambiguous,
    Delivered,
    Failed,
    Outgoing,
    RetryLater,
    Send,
    SendFile,
    Unreachable,
)
from bot.runtime import StoreSink
from tests.harness import reference_in
from tests.matrix_harness import MASTER_KEY, PASSWORD, MatrixHarness, matrix_haven

pytestmark = [pytest.mark.homeserver, pytest.mark.asyncio]

_ids = iter(range(900_000, 1_000_000))


def outgoing(effect: Send | SendFile, lane: Lane = Lane.CONVERSATION) -> Outgoing:
    """An outbox item delivered by hand (ids far from the outbox's own: transaction ids derive from them)."""
    number = next(_ids)
    return Outgoing(number, f"test:{number}", lane, effect)


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[MatrixHarness]:
    async with matrix_haven(tmp_path) as built:
        yield built


async def emergency(h: MatrixHarness) -> str:
    await h.command("rita", "emergency")
    return reference_in(h.last("rita"))


# --- encryption ------------------------------------------------------------------------------------


async def test_everything_the_bot_sends_into_encrypted_rooms_is_encrypted(harness: MatrixHarness) -> None:
    h = harness
    ref = await emergency(h)
    await h.press_card("ana", ref, "ack")  # an edit of the card and a message in its thread
    await h.press_card("ben", ref, "claim")
    dm = await h.direct_chat("rita")
    assert h.transport is not None
    export = SendFile(ChatAddress(f"matrix:{dm}"), "a.csv", "text/csv", b"x,y\n")
    assert isinstance(await h.transport.deliver(outgoing(export)), Delivered)
    await h.settle()

    types = await h.wire_types()
    assert len(types) >= 10 and set(types.values()) == {"m.room.encrypted"}
    assert h.transport is not None and h.transport.client is not None
    token = h.transport.client.access_token
    card = next(m for m in h.room_messages() if m.event_id in h.watch.cards)
    wire = [
        await h.synapse.request("GET", f"/_matrix/client/v3/rooms/{room}/event/{event}", access_token=token)
        for room, event in h.watch.sent
    ]
    relations = [e["content"].get("m.relates_to", {}) for e in wire]
    # Relations stay readable for the server (threads and edits work); the text does not.
    assert {"rel_type": "m.replace", "event_id": card.event_id} in relations
    assert any(r.get("rel_type") == "m.thread" and r.get("event_id") == card.event_id for r in relations)
    assert all("body" not in e["content"] and "ciphertext" in e["content"] for e in wire)

    thread = [m for m in h.room_messages() if m.thread == card.event_id]
    assert any("Ana acknowledged" in m.body for m in thread) and any("Ben" in m.body for m in thread)
    page = next(m for m in h.room_messages() if m.body.startswith("Paging"))
    assert set(page.content["m.mentions"]["user_ids"]) == {h.user_id("ana"), h.user_id("ben"), h.user_id("cora")}
    assert f"https://matrix.to/#/{h.user_id('ana')}" in page.content["formatted_body"]
    file = h.people["rita"].from_sender(h.bot_id)[-1]
    assert file.content["msgtype"] == "m.file" and "key" in file.content["file"], "files are encrypted too"


async def test_a_restarted_bot_keeps_its_one_device_and_reads_new_messages(harness: MatrixHarness) -> None:
    h = harness
    await h.command("rita", "status")
    assert h.transport is not None and h.transport.client is not None
    device = h.transport.client.device_id
    identity_key = h.transport.client.olm.account.identity_keys["ed25519"]
    before = len(h.received("rita"))
    await h.stop_bot()

    # While the bot is away: a message on a brand-new room key, which reaches the bot's device over Olm.
    rita = h.people["rita"]
    dm = await h.direct_chat("rita")
    rita.client.olm.outbound_group_sessions.pop(dm, None)
    sent_offline = await rita.send(dm, "!help")

    await h.start_bot()
    h.expected.add(sent_offline)
    await h.settle()
    assert h.transport is not None and h.transport.client is not None
    assert h.transport.client.device_id == device
    assert h.transport.client.olm.account.identity_keys["ed25519"] == identity_key
    devices = await h.synapse.devices(h.transport.client.access_token)
    assert [d["device_id"] for d in devices] == [device], "no new device at a restart"
    answers = h.received("rita")[before:]
    assert len(answers) == 1 and "!report" in answers[0], "the offline message is answered once"


async def test_an_outage_longer_than_one_sync_loses_nothing_and_replays_nothing(harness: MatrixHarness) -> None:
    h = harness
    await h.command("rita", "status")
    recorded_before = set(h.watch.recorded)
    await h.stop_bot()
    dm = await h.direct_chat("rita")
    offline = [await h.people["rita"].send(dm, f"Detail {i}") for i in range(7)]
    h.watch.recorded.clear()
    await h.start_bot(timeline_limit=3)  # 7 new events: the sync returns a "limited" timeline
    await h.watch.until_recorded(set(offline))
    assert not recorded_before & h.watch.recorded, "nothing from before the restart came again"
    await h.haven.settle()  # type: ignore[union-attr]


async def test_a_message_that_stays_undecryptable_gets_a_clear_answer(tmp_path: Path) -> None:
    async with matrix_haven(tmp_path, undecryptable_after=1.0) as h:
        await h.command("rita", "status")
        before = len(h.received("rita"))
        event_id, _ = await send_without_the_key(h)
        started = time.monotonic()
        h.expected.add(event_id)
        await h.settle()
        assert time.monotonic() - started >= 0.9, "the bot waited for the key first"
        assert h.received("rita")[before:] == ["Sorry, I could not read your last message. Could you send it again?"]


async def test_a_room_key_that_arrives_late_still_opens_the_message(harness: MatrixHarness) -> None:
    h = harness
    await h.command("rita", "status")
    event_id, late_keys = await send_without_the_key(h)
    assert h.transport is not None
    for _ in range(100):  # until the bot has seen the message and set it aside
        if event_id in h.transport._pending:
            break
        await h.people["rita"].sync(timeout_ms=50)
    assert event_id in h.transport._pending
    assert h.transport.client is not None and h.transport.client.outgoing_key_requests, "the bot asked for the key"
    rita = h.people["rita"]
    for number, messages in enumerate(late_keys):
        path = f"/_matrix/client/v3/sendToDevice/m.room.encrypted/late-{number}-{time.monotonic_ns()}"
        await h.synapse.request("PUT", path, access_token=rita.client.access_token, json_body=messages)
    h.expected.add(event_id)
    await h.settle()
    assert "!report" in h.last("rita"), "the late message was read and answered (it was !help)"


async def send_without_the_key(h: MatrixHarness) -> tuple[str, list[dict[str, Any]]]:
    """!help, encrypted with a new room key that is not sent: returns the event id and the key
    messages (to-device), to be sent late or never."""
    rita = h.people["rita"]
    dm = await h.direct_chat("rita")
    olm = rita.client.olm
    olm.create_outbound_group_session(dm)
    users = list(rita.client.rooms[dm].users)
    keys = [to_device for _, to_device in olm.share_group_session_parallel(dm, users, ignore_unverified_devices=True)]
    olm.outbound_group_sessions[dm].shared = True
    kind, content = rita.client.encrypt(dm, "m.room.message", {"msgtype": "m.text", "body": "!help"})
    path = f"/_matrix/client/v3/rooms/{dm}/send/{kind}/undecryptable-{time.monotonic_ns()}"
    answer = await h.synapse.request("PUT", path, access_token=rita.client.access_token, json_body=content)
    return str(answer["event_id"]), keys


async def test_plaintext_in_an_encrypted_room_is_refused_in_silence(harness: MatrixHarness) -> None:
    h = harness
    await h.command("rita", "status")
    before = h.received("rita")
    h.expected.add(await h.people["rita"].send_plaintext(await h.direct_chat("rita"), "!emergency"))
    await h.settle()
    assert h.received("rita") == before
    assert h.card_texts() == [], "a forged emergency raises nothing"


# --- rooms, reactions, long messages -------------------------------------------------------------


async def test_group_invites_that_are_not_team_rooms_are_rejected(harness: MatrixHarness) -> None:
    h = harness
    mallory = await h.person("mallory")
    created = await mallory.client.room_create(name="Party", invite=[h.bot_id])
    room_id = created.room_id

    def bot_left() -> bool | None:
        room = mallory.client.rooms.get(room_id)
        return (room is not None and h.bot_id not in room.users) or None

    await mallory.sync_until(bot_left, "the bot to reject the invite")
    membership = await h.synapse.request(
        "GET",
        f"/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{h.bot_id}",
        access_token=mallory.client.access_token,
    )
    assert membership["membership"] == "leave"


async def test_reactions_ack_only_on_cards_even_unencrypted(harness: MatrixHarness) -> None:
    h = harness
    ref = await emergency(h)
    ana = await h.join_team_room("ana")
    page = next(m for m in h.room_messages() if m.body.startswith("Paging"))
    h.expected.add(await ana.react(h.team_room, page.event_id, "✅"))  # not a card: nothing happens
    await h.settle()
    assert "waiting for acknowledgement" in h.card_texts()[0]
    # matrix-nio sends reactions unencrypted; a reaction on the card still counts.
    card = next(m for m in h.room_messages() if m.event_id in h.watch.cards)
    reaction = await ana.client.room_send(
        h.team_room,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": card.event_id, "key": "✅"}},
    )
    h.expected.add(reaction.event_id)
    await h.settle()
    assert "acknowledged" in h.card_texts()[0] and ref in h.card_texts()[0]
    assert "has seen your emergency report" in h.last("rita")


async def test_bad_input_gets_a_clear_answer_in_the_team_room_and_in_private(harness: MatrixHarness) -> None:
    h = harness
    await h.room_command("ana", "frobnicate")
    assert "I do not know the command !frobnicate" in h.room_texts()[-1]
    await h.command("rita", "status")
    await h.say("rita", "y" * 40_000)  # near the homeserver's event size limit once encrypted
    assert "too long" in h.last("rita")
    assert h.transport is not None and h.transport.last_contact is not None


async def test_a_long_message_arrives_whole_in_several_events(harness: MatrixHarness) -> None:
    h = harness
    await h.command("rita", "status")
    dm = await h.direct_chat("rita")
    text = "\n".join(f"{i:04d} " + "Кыргызча " * 40 for i in range(120))
    assert h.transport is not None
    before = len(h.people["rita"].from_sender(h.bot_id, dm))
    result = await h.transport.deliver(outgoing(Send(ChatAddress(f"matrix:{dm}"), text)))
    assert isinstance(result, Delivered)
    await h.settle()
    parts = [m.body for m in h.people["rita"].from_sender(h.bot_id, dm)][before:]
    assert len(parts) > 5 and "\n".join(parts) == text


async def test_a_page_reaches_a_responder_in_one_direct_chat(harness: MatrixHarness) -> None:
    h = harness
    ref = await emergency(h)
    await h.advance(timedelta(minutes=1, seconds=1))
    await h.command("ana", "ack", ref)
    ana = h.people["ana"]
    rooms = ana.direct_rooms_with(h.bot_id)
    assert len(rooms) == 1, "pages, repeats and ana's own commands share one direct chat"
    assert sum("EMERGENCY" in t for t in h.received("ana")) == 2


# --- delivery results ------------------------------------------------------------------------------


async def test_homeserver_answers_become_delivery_results(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A homeserver with Synapse's default rate limits, stopped and frozen on purpose."""
    caplog.set_level(logging.INFO, logger="adapters.matrix")
    async with LocalSynapse(tmp_path / "hs", rate_limits="default") as hs:
        bot_id = await hs.create_user("haven", PASSWORD)
        reg = await hs.register("rita", PASSWORD)
        rita = MatrixPerson(hs.base_url, reg.user_id, tmp_path / "rita")
        await rita.restore(reg.device_id, reg.access_token)
        store = open_store(tmp_path / "haven.db", MASTER_KEY)
        await store.open()
        settings = MatrixSettings(hs.base_url, bot_id, tmp_path / "bot", PASSWORD)
        transport = MatrixTransport(settings, request_timeout=2.0, sync_timeout=1.0)
        watch = BotWatch()
        await transport.start(watch.wrap(StoreSink(store, lambda: None)))
        try:
            await transport.ready.wait()
            assert "cannot tell whether the bot is exempt" in caplog.text
            assert "/_synapse/admin/v1/users/%40haven%3Alocalhost/override_ratelimit" in caplog.text
            assert PASSWORD not in caplog.text and "syt_" not in caplog.text

            dm = await rita.open_direct_chat(bot_id)
            await watch.until_recorded({await rita.send(dm, "hello")})  # the bot joined and knows the room
            to_rita = ChatAddress(f"matrix:{dm}")
            results = [await transport.deliver(outgoing(Send(to_rita, f"message {i}"))) for i in range(14)]
            limited = [r for r in results if isinstance(r, RetryLater)]
            assert isinstance(results[0], Delivered) and limited and all(r.seconds > 0 for r in limited)

            await hs.override_ratelimit(bot_id)
            assert isinstance(await transport.deliver(outgoing(Send(to_rita, "exempt now"))), Delivered)

            nowhere = await rita.client.room_create(name="Without the bot")
            result = await transport.deliver(outgoing(Send(ChatAddress(f"matrix:{nowhere.room_id}"), "hi")))
            assert isinstance(result, Unreachable)

            # Frozen homeserver: the request leaves, no answer comes back.
            frozen = outgoing(Send(to_rita, "sent into silence"), Lane.EMERGENCY)
            assert hs.pid is not None
            os.kill(hs.pid, signal.SIGSTOP)
            try:
                assert isinstance(await transport.deliver(frozen), Ambiguous)
            finally:
                os.kill(hs.pid, signal.SIGCONT)
            again = await transport.deliver(frozen)  # the outbox sends an emergency again
            assert isinstance(again, Delivered)
            await rita.sync_until(lambda: again.message in rita.seen or None, "the resent message")
            copies = [m for m in rita.from_sender(bot_id, dm) if m.body == "sent into silence"]
            assert len(copies) == 1, "the homeserver deduplicated the resend (same transaction id)"

            await hs.stop()
            assert isinstance(await transport.deliver(outgoing(Send(to_rita, "homeserver down"))), Failed)
        finally:
            await transport.stop()
            await rita.close()
            await store.close()


async def test_a_card_thread_without_a_card_still_gets_the_message(harness: MatrixHarness) -> None:
    """An in-thread message whose card is unknown goes to the room's main timeline."""
    h = harness
    assert h.transport is not None
    send = Send(ChatAddress(h.room), "A note for the team", case=CaseRef("ZZZ-ZZZ"), in_thread=True)
    result = await h.transport.deliver(outgoing(send))
    assert isinstance(result, Delivered) and result.thread is None
