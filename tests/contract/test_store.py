"""The store contract: every engine passes these tests.

Engines are parameters of the ``store`` fixture; a PostgreSQL engine joins the list when it exists and
is skipped where no server is available (as mautrix-python does for its state stores).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.crypto import DecryptionError, Vault
from bot.domain.ids import CaseId, CaseRef, ChatAddress, Identity, Pseudonym, SpaceId
from bot.domain.model import (
    Attachment,
    Case,
    CaseContent,
    CaseEvent,
    CaseMessage,
    CaseState,
    Category,
    Contact,
    Lane,
    Reporter,
    Role,
    Source,
    Urgency,
)
from bot.messages import Button, EditCard, PostCard, Send
from bot.ports import CardRef, StoredConversation
from bot.store.sqlite import SqliteStore

KEY = bytes(range(32))
NOW = datetime(2027, 8, 1, 10, 0, tzinfo=UTC)
CANARY = "canary-7f3a91-secret-words"


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteStore]:
    engine = SqliteStore(tmp_path / "haven.db", Vault(KEY), ManualClock(NOW))
    await engine.open()
    yield engine
    await engine.close()


def a_case(ref: str = "K7F-3QX", **changes: object) -> Case:
    case = Case(
        id=None,
        ref=CaseRef(ref),
        space=SpaceId("demo"),
        state=CaseState.OPEN,
        urgency=Urgency.NORMAL,
        category=Category.HARASSMENT,
        role=Role.AFFECTED,
        source=Source.GUIDED,
        language="sv",
        reporter=Pseudonym("R-ABCD"),
        contact=Contact.ANONYMOUS,
        created_at=NOW,
        updated_at=NOW,
        content=CaseContent(
            when_where="at the stage",
            involved=f"{CANARY} involved",
            details=(f"{CANARY} details",),
            attachments=(Attachment("photo", "file-1", "a.jpg", 10, "image/jpeg"),),
            excluded=(Identity("memory:ben"),),
        ),
    )
    return replace(case, **changes)  # type: ignore[arg-type]


# --- conversations ---------------------------------------------------------------------------------


async def test_conversations_round_trip(store: SqliteStore) -> None:
    chat = ChatAddress("telegram:4242")
    async with store.transaction() as tx:
        assert await tx.conversation(chat) is None
        await tx.save_conversation(
            StoredConversation(
                chat, "sv", SpaceId("demo"), {"mode": "report", "draft": {"details": [CANARY]}}, NOW, False, True
            )
        )
    async with store.transaction() as tx:
        found = await tx.conversation(chat)
    assert found is not None
    assert (found.language, found.space, found.has_draft) == ("sv", "demo", True)
    assert found.state["draft"]["details"] == [CANARY]


async def test_deleting_a_conversation_destroys_its_key(store: SqliteStore) -> None:
    chat = ChatAddress("telegram:1")
    async with store.transaction() as tx:
        await tx.save_conversation(StoredConversation(chat, "en", None, {"x": CANARY}, NOW))
        await tx.delete_conversation(chat)
        assert await tx.conversation(chat) is None


async def test_conversations_read_ahead_for_a_batch_match_what_is_stored(store: SqliteStore) -> None:
    kept, changed, gone, new = (ChatAddress(f"telegram:{n}") for n in (11, 12, 13, 14))
    async with store.transaction() as tx:
        for chat in (kept, changed, gone):
            await tx.save_conversation(StoredConversation(chat, "de", None, {"step": "old"}, NOW))
    async with store.transaction() as tx:
        await tx.prefetch_conversations([kept, changed, gone, new])
        await tx.save_conversation(StoredConversation(changed, "de", None, {"step": "new"}, NOW))
        await tx.delete_conversation(gone)
        assert [c.state if c else None for c in [await tx.conversation(x) for x in (kept, changed, gone, new)]] == [
            {"step": "old"},
            {"step": "new"},
            None,
            None,
        ]


async def test_idle_drafts_are_found_by_age(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        await tx.save_conversation(
            StoredConversation(ChatAddress("memory:old"), "en", None, {}, NOW - timedelta(hours=2), has_draft=True)
        )
        await tx.save_conversation(StoredConversation(ChatAddress("memory:new"), "en", None, {}, NOW, has_draft=True))
        await tx.save_conversation(
            StoredConversation(ChatAddress("memory:none"), "en", None, {}, NOW - timedelta(hours=2))
        )
        found = await tx.idle_drafts(NOW - timedelta(hours=1))
    assert [c.chat for c in found] == ["memory:old"]


# --- reporters -------------------------------------------------------------------------------------


async def test_reporters_are_found_by_identity_and_can_be_unlinked(store: SqliteStore) -> None:
    who = Reporter(SpaceId("demo"), Pseudonym("R-ABCD"), ChatAddress("telegram:99"), Identity("telegram:99"), "en")
    async with store.transaction() as tx:
        await tx.save_reporter(who)
        assert await tx.reporter_by_identity(SpaceId("demo"), Identity("telegram:99")) == who
        assert await tx.reporter_by_identity(SpaceId("other"), Identity("telegram:99")) is None
        await tx.unlink_reporter(SpaceId("demo"), Pseudonym("R-ABCD"))
        assert await tx.reporter_by_identity(SpaceId("demo"), Identity("telegram:99")) is None
        unlinked = await tx.reporter(SpaceId("demo"), Pseudonym("R-ABCD"))
    assert unlinked is not None and unlinked.chat is None and unlinked.identity is None


# --- cases -----------------------------------------------------------------------------------------


async def test_cases_round_trip_with_their_content(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        assert stored.id is not None
        assert await tx.reference_taken(CaseRef("K7F-3QX"))
        found = await tx.case(CaseRef("K7F-3QX"))
        by_id = await tx.case_by_id(stored.id)
    assert found == stored == by_id
    assert found is not None and found.content == a_case().content


async def test_saving_a_case_changes_header_and_content(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        content = replace(stored.content or CaseContent(), location="59.3,18.0")
        changed = replace(
            stored,
            state=CaseState.CLAIMED,
            assignees=(Identity("memory:ana"),),
            acknowledged_at=NOW,
            acknowledged_by=Identity("memory:ana"),
            content=content,
        )
        await tx.save_case(changed)
        found = await tx.case(stored.ref)
    assert found == changed and found is not None and found.content == content


async def test_cases_are_listed_oldest_first_and_filtered(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        await tx.add_case(a_case("BBB-BBB", created_at=NOW + timedelta(minutes=1)))
        await tx.add_case(a_case("AAA-AAA"))
        await tx.add_case(a_case("CCC-CCC", state=CaseState.RESOLVED))
        await tx.add_case(a_case("DDD-DDD", space=SpaceId("other")))
        await tx.add_case(a_case("EEE-EEE", reporter=Pseudonym("R-ZZZZ")))
        open_demo = await tx.cases(space=SpaceId("demo"), open_only=True)
        mine = await tx.cases(space=SpaceId("demo"), reporter=Pseudonym("R-ABCD"))
    assert [c.ref for c in open_demo] == ["AAA-AAA", "EEE-EEE", "BBB-BBB"]
    assert {c.ref for c in mine} == {"AAA-AAA", "BBB-BBB", "CCC-CCC"}
    assert all(c.content is None for c in open_demo), "lists never decrypt content"


async def test_history_is_append_only(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        assert stored.id is not None
        await tx.add_event(stored.id, CaseEvent(NOW, "system", "paged", {"people": ["memory:ana"]}))
        await tx.add_event(stored.id, CaseEvent(NOW, "memory:ana", "acknowledged"))
        events = await tx.events(stored.id)
    assert [e.kind for e in events] == ["paged", "acknowledged"]
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE case_events SET kind = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM case_events")
    raw.close()


async def test_messages_are_sealed_and_erased_with_the_case_key(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        assert stored.id is not None
        await tx.add_message(stored.id, CaseMessage(NOW, "reporter:R-ABCD", "reporter", f"{CANARY} follow-up"))
        assert [m.body for m in await tx.messages(stored.id)] == [f"{CANARY} follow-up"]
        await tx.destroy_case_content(stored.id)
        erased = await tx.case(stored.ref)
        assert await tx.messages(stored.id) == []
        with pytest.raises(DecryptionError):
            await tx.add_message(stored.id, CaseMessage(NOW, "x", "note", "late"))
    assert erased is not None and erased.content is None and erased.category == Category.HARASSMENT


async def test_no_report_content_reaches_the_database_files_in_clear(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        assert stored.id is not None
        await tx.add_message(stored.id, CaseMessage(NOW, "r", "reporter", CANARY))
        await tx.save_conversation(StoredConversation(ChatAddress("telegram:555"), "en", None, {"t": CANARY}, NOW))
        await tx.save_reporter(
            Reporter(SpaceId("demo"), Pseudonym("R-QQQQ"), ChatAddress("telegram:555"), Identity("telegram:555"), "en")
        )
        await tx.enqueue("k1", Lane.CONVERSATION, Send(ChatAddress("telegram:555"), CANARY))
    await store.record_inbound("telegram", [("1", {"message": {"text": CANARY, "chat": {"id": 555}}})])
    for path in Path(store.path).parent.glob("haven.db*"):
        data = path.read_bytes()
        assert CANARY.encode() not in data, path.name
        assert b"telegram:555" not in data, path.name


# --- inbox -----------------------------------------------------------------------------------------


async def test_the_inbox_records_each_update_once(store: SqliteStore) -> None:
    assert await store.record_inbound("telegram", [("1", {"a": 1}), ("2", {"a": 2})], ("telegram.offset", "3")) == 2
    assert await store.record_inbound("telegram", [("2", {"a": 2}), ("3", {"a": 3})]) == 1
    assert await store.record_inbound("matrix", [("1", {"a": 1})]) == 1
    assert await store.recall("telegram.offset") == "3"
    pending = await store.pending_inbound(10)
    assert [(r.source, r.external_id, r.payload) for r in pending] == [
        ("telegram", "1", {"a": 1}),
        ("telegram", "2", {"a": 2}),
        ("telegram", "3", {"a": 3}),
        ("matrix", "1", {"a": 1}),
    ]
    async with store.transaction() as tx:
        await store.claim_inbound(tx, [pending[0].id])
    assert len(await store.pending_inbound(10)) == 3
    assert await store.record_inbound("telegram", [("1", {"a": 1})]) == 0, "processed updates are still deduplicated"


# --- outbox ----------------------------------------------------------------------------------------


async def test_the_outbox_accepts_each_key_once_and_orders_by_lane(store: SqliteStore) -> None:
    chat = ChatAddress("memory:ana")
    async with store.transaction() as tx:
        await tx.enqueue("a", Lane.CONVERSATION, Send(chat, "first", ((Button("OK", "ok"),),)))
        await tx.enqueue("a", Lane.CONVERSATION, Send(chat, "again"))
        await tx.enqueue("b", Lane.EMERGENCY, Send(chat, "urgent"))
        await tx.enqueue("c", Lane.PAGE, PostCard(ChatAddress("memory:!team"), CaseRef("K7F-3QX"), "card"))
    async with store.transaction() as tx:
        await tx.enqueue("a", Lane.CONVERSATION, Send(chat, "a third time, in another transaction"))
    due = await store.due_outgoing("memory", NOW)  # type: ignore[arg-type]
    assert [(i.key, i.lane) for i in due] == [("b", Lane.EMERGENCY), ("c", Lane.PAGE), ("a", Lane.CONVERSATION)]
    assert due[2].effect == Send(chat, "first", ((Button("OK", "ok"),),))
    await store.start_sending(due[0].id)
    assert [i.key for i in await store.interrupted_outgoing()] == ["b"]
    card = (CaseRef("K7F-3QX"), CardRef(ChatAddress("memory:!team"), "m1", "t1"))
    await store.finish_outgoing(due[1].id, "sent", card=card)
    async with store.transaction() as tx:
        assert await tx.card(CaseRef("K7F-3QX"), ChatAddress("memory:!team")) == card[1]
        assert await tx.case_for_message(ChatAddress("memory:!team"), "m1") == "K7F-3QX"
        assert await tx.case_for_thread(ChatAddress("memory:!team"), "t1") == "K7F-3QX"
    assert [i.key for i in await store.outgoing_after("memory", 0)] == ["a"]  # type: ignore[arg-type]


async def test_retry_moves_an_item_later(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        await tx.enqueue("a", Lane.PAGE, EditCard(ChatAddress("memory:!team"), CaseRef("K7F-3QX"), "edit"))
    item = (await store.due_outgoing("memory", NOW))[0]  # type: ignore[arg-type]
    await store.retry_outgoing(item.id, NOW + timedelta(seconds=30))
    assert await store.due_outgoing("memory", NOW) == []  # type: ignore[arg-type]
    assert await store.next_outgoing_at("memory") == NOW + timedelta(seconds=30)  # type: ignore[arg-type]


async def test_state_changes_asked_for_together_share_one_commit(store: SqliteStore) -> None:
    """Group commit: senders that finish at the same time pay for one fsync, and each returns only
    once its own change is durable."""
    async with store.transaction() as tx:
        for n in range(20):
            await tx.enqueue(f"k{n}", Lane.CONVERSATION, Send(ChatAddress(f"memory:p{n}"), "hello"))
    items = await store.due_outgoing("memory", NOW)  # type: ignore[arg-type]
    commits = 0
    original = store.transaction

    def counting() -> object:
        nonlocal commits
        commits += 1
        return original()

    store.transaction = counting  # type: ignore[method-assign,assignment]
    await asyncio.gather(*(store.start_sending(item.id) for item in items))
    assert len(await store.interrupted_outgoing()) == 20, "every change is committed when its caller returns"
    await asyncio.gather(*(store.finish_outgoing(item.id, "sent") for item in items))
    assert await store.interrupted_outgoing() == []
    assert await store.pending_outgoing("memory") == 0  # type: ignore[arg-type]
    assert commits <= 4, f"{commits} commits for 40 changes"


# --- timers ----------------------------------------------------------------------------------------


async def test_timers_fire_once_and_can_be_cancelled(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        stored = await tx.add_case(a_case())
        assert stored.id is not None
        first = await tx.add_timer("escalate", NOW + timedelta(minutes=5), case=stored.id, data={"step": 1})
        await tx.add_timer("escalate", NOW + timedelta(minutes=10), case=stored.id, data={"step": 2})
        await tx.add_timer("unclaimed", NOW + timedelta(minutes=1), case=stored.id)
    assert await store.next_timer_at() == NOW + timedelta(minutes=1)
    async with store.transaction() as tx:
        due = await tx.due_timers(NOW + timedelta(minutes=5))
        assert [t.kind for t in due] == ["unclaimed", "escalate"]
        assert due[1].id == first and due[1].data == {"step": 1} and due[1].case == stored.id
        for timer in due:
            await tx.finish_timer(timer.id, NOW)
        assert await tx.due_timers(NOW + timedelta(minutes=5)) == []
        assert await tx.cancel_timers(CaseId(stored.id), ["escalate"]) == 1
        assert await tx.timers(CaseId(stored.id)) == []
    assert await store.next_timer_at() is None


# --- audit, settings, keys ---------------------------------------------------------------------


async def test_the_audit_trail_is_a_hash_chain_and_append_only(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        await tx.audit(NOW, "demo", "memory:ana", "case.viewed", "K7F-3QX")
        await tx.audit(NOW, "other", "memory:cora", "team.add", "memory:dan")
        assert [e.action for e in await tx.audit_entries(SpaceId("demo"))] == ["case.viewed"]
    raw = sqlite3.connect(store.path)
    rows = raw.execute("SELECT prev_hash, hash FROM audit ORDER BY id").fetchall()
    assert rows[1][0] == rows[0][1]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE audit SET actor = 'x'")
    raw.close()


async def test_settings_round_trip(store: SqliteStore) -> None:
    async with store.transaction() as tx:
        await tx.set_setting("space.demo.paused", "back at 14:00")
        assert await tx.setting("space.demo.paused") == "back at 14:00"
        await tx.set_setting("space.demo.paused", None)
        assert await tx.setting("space.demo.paused") is None


async def test_a_wrong_master_key_is_refused(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "h.db", Vault(KEY), ManualClock(NOW))
    await first.open()
    await first.close()
    wrong = SqliteStore(tmp_path / "h.db", Vault(bytes(32)), ManualClock(NOW))
    with pytest.raises(DecryptionError):
        await wrong.open()
    await wrong.close()


async def test_migrations_are_applied_once_and_the_database_is_in_wal_mode(store: SqliteStore) -> None:
    from bot.store.sqlite import migrations

    assert await store.schema_version() == migrations()[-1][0]
    await store.close()
    await store.open()
    assert await store.schema_version() == migrations()[-1][0]
    assert await store.integrity_check() == "ok"
    raw = sqlite3.connect(store.path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


async def test_secrets_survive_a_restart(store: SqliteStore) -> None:
    secret = store.secret("buttons")
    await store.close()
    await store.open()
    assert store.secret("buttons") == secret
