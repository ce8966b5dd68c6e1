"""Privacy and security (issue 8): nothing leaks, keys erase, rotation keeps data, the audit trail
detects tampering, abuse is contained."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory.transport import MemoryTransport
from bot import security
from bot.clock import ManualClock
from bot.config import Settings, StorageSettings
from bot.crypto import DecryptionError, Vault, read_keyring, write_keyring
from bot.domain.ids import CaseRef
from bot.domain.space import HandlingPolicy
from bot.store.sqlite import SqliteStore
from tests.conftest import demo_space
from tests.contract.test_journeys import guided_report
from tests.harness import MASTER_KEY, MemoryHarness, memory_haven, reference_in

pytestmark = pytest.mark.asyncio

CANARIES = {
    "when": "canary-when-7Q2",
    "involved": "canary-involved-K9P",
    "details": "canary-details-3XZ",
    "followup": "canary-followup-M4T",
    "caption": "canary-caption-W8R",
    "location": "canary-location-H5N",
    "reply": "canary-reply-B2D",
    "note": "canary-note-F6J",
    "quick": "canary-quick-L7S",
    "verbal": "canary-verbal-Y3C",
    "review": "canary-review-G4V",
    "ban": "canary-ban-Q8E",
}


async def full_scenario(h: MemoryHarness) -> str:
    await h.command("rita", "report")
    for answer in ("No", "It happened to me", "Harassment or unwanted contact"):
        await h.choose("rita", answer)
    await h.say("rita", f"Friday {CANARIES['when']}")
    await h.say("rita", f"A man called {CANARIES['involved']}")
    await h.say("rita", f"He did {CANARIES['details']}")
    await h.transport.receive(
        {
            "kind": "attachment",
            "chat": "memory:rita",
            "sender": "memory:rita",
            "ref": "file-1",
            "name": "photo.jpg",
            "caption": CANARIES["caption"],
            "lang": "en",
        }
    )
    await h.settle()
    await h.choose("rita", "✔ Done")
    await h.choose("rita", "Anyone on duty")
    await h.choose("rita", "Yes, contact me here, but keep me anonymous")
    await h.choose("rita", "✔ Send report")
    ref = reference_in(h.last("rita"))
    await h.command("ana", "claim", ref)
    await h.say("rita", f"More: {CANARIES['followup']}")
    await h.command("ana", "reply", f"{ref} {CANARIES['reply']}")
    await h.command("ana", "note", f"{ref} {CANARIES['note']}")
    await h.command("walt", "report", CANARIES["quick"])
    await h.command("walt", "sos")
    await h.say("walt", f"At {CANARIES['location']}")
    await h.command("ben", "newreport")
    await h.choose("ben", "Something else")
    await h.say("ben", "today")
    await h.choose("ben", "Skip")
    await h.say("ben", CANARIES["verbal"])
    await h.choose("ben", "Skip")
    await h.choose("ben", "✔ Save")
    await h.command("ana", "resolve", f"{ref} action-taken")
    await h.say("ana", CANARIES["review"])
    await h.command("cora", "ban", f'add "{CANARIES["ban"]}" for 2d')
    return ref


async def test_canaries_never_reach_the_database_files_the_logs_or_the_team_room(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with memory_haven(tmp_path, demo_space()) as h:
        await full_scenario(h)
        room = "\n".join([*h.room_texts(), *h.card_texts()])
        files = {path.name: path.read_bytes() for path in tmp_path.glob("haven.db*")}
        assert "haven.db-wal" in files, "the WAL is checked too"
        for name, canary in CANARIES.items():
            assert canary not in room, name
            for file_name, data in files.items():
                assert canary.encode() not in data, (name, file_name)
            assert canary not in caplog.text, name
        assert "memory:rita" not in caplog.text and "memory:walt" not in caplog.text
        for data in files.values():
            assert b"memory:rita" not in data and b"memory:walt" not in data


async def test_forgetting_destroys_the_keys_of_closed_cases(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        ref = await guided_report(h)
        await h.command("ana", "claim", ref)
        await h.command("ana", "resolve", f"{ref} no-action")
        await h.command("rita", "forget")
        await h.choose("rita", "Yes, erase")
        assert "1 closed report was erased" in h.last("rita")
        async with h.haven.store.transaction() as tx:
            case = await tx.case(CaseRef(ref))
        assert case is not None and case.content is None and case.category.value == "harassment"
    raw = sqlite3.connect(tmp_path / "haven.db")
    destroyed = raw.execute("SELECT COUNT(*) FROM keys WHERE purpose = 'case' AND wrapped IS NULL").fetchone()[0]
    raw.close()
    assert destroyed == 1


async def test_rotating_the_master_key_keeps_every_case_readable(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    write_keyring(key_file, [MASTER_KEY])
    settings = Settings("x", StorageSettings("sqlite:///x", tmp_path / "haven.db", key_file), ())
    async with memory_haven(tmp_path, demo_space()) as h:
        first = await guided_report(h)
        h.haven.store.vault.source = key_file
        count, _ = await security.rotate_key(settings, timedelta(0))
        assert count > 0
        assert h.haven.store.vault.reload()
        second = await guided_report(h)
    keys = read_keyring(key_file)
    assert len(keys) == 1 and keys[0] != MASTER_KEY
    store = SqliteStore(tmp_path / "haven.db", Vault(keys, key_file), ManualClock())
    await store.open()
    async with store.transaction() as tx:
        for ref in (first, second):
            case = await tx.case(CaseRef(ref))
            assert case is not None and case.content is not None and case.content.details
    await store.close()
    old_only = SqliteStore(tmp_path / "haven.db", Vault(MASTER_KEY), ManualClock())
    with pytest.raises(DecryptionError):
        await old_only.open()
    await old_only.close()


async def test_audit_verify_detects_edits_and_deletions(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    write_keyring(key_file, [MASTER_KEY])
    settings = Settings("x", StorageSettings("sqlite:///x", tmp_path / "haven.db", key_file), ())
    async with memory_haven(tmp_path, demo_space()) as h:
        ref = await guided_report(h)
        await h.command("ana", "claim", ref)
    count, problem, _ = await security.verify_audit(settings)
    assert problem is None and count >= 3
    raw = sqlite3.connect(tmp_path / "haven.db")
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET actor = 'someone-else' WHERE id = 2")
    raw.commit()
    _, problem, _ = await security.verify_audit(settings)
    assert problem is not None and "entry 2" in problem
    raw.execute("UPDATE audit SET actor = (SELECT actor FROM audit WHERE id = 3) WHERE id = 2")
    raw.execute("DROP TRIGGER audit_no_delete")
    raw.execute("DELETE FROM audit WHERE id = 2")
    raw.commit()
    raw.close()
    _, problem, _ = await security.verify_audit(settings)
    assert problem is not None and "removed or changed" in problem


async def test_reports_about_the_same_person_are_linked_without_names(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        for who in ("rita", "walt"):
            await h.command(who, "report")
            for answer in ("No", "I saw it happen", "Harassment or unwanted contact"):
                await h.choose(who, answer)
            await h.say(who, "Yesterday")
            await h.say(who, "John Smith, and his friend @jsmith99")
            await h.say(who, "Following people around")
            await h.choose(who, "✔ Done")
            await h.choose(who, "Anyone on duty")
            await h.choose(who, "Yes, contact me here, but keep me anonymous")
            await h.choose(who, "✔ Send report")
        second = reference_in(h.last("walt"))
        assert any("may concern the same person as 1 other case" in t for t in h.received("cora"))
        assert not any("same person" in t for t in h.received("ana")), "only coordinators are told"
        await h.command("cora", "related", second)
        assert "2 open or closed cases concern the same person" in h.last("cora")
        await h.command("ana", "related", second)
        assert h.last("ana") == "This command is for the space's coordinators."
    raw = sqlite3.connect(tmp_path / "haven.db")
    tokens = [row[0] for row in raw.execute("SELECT token FROM person_tokens")]
    raw.close()
    assert tokens and all("smith" not in token for token in tokens)


async def test_a_blocked_reporter_is_not_passed_on_but_emergencies_are(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        await guided_report(h)
        pseudonym = next(t for t in h.card_texts()[0].split() if t.startswith("R-"))
        await h.command("cora", "block", pseudonym)
        assert f"{pseudonym} is blocked" in h.last("cora")
        pages = len(h.received("ana"))
        await h.command("rita", "report", "spam spam spam")
        assert "not passed on to the team" in h.last("rita") and "112" in h.last("rita")
        assert len(h.received("ana")) == pages
        await h.command("rita", "sos")
        assert "alerting the response team now" in h.last("rita")
        await h.command("cora", "unblock", pseudonym)
        await h.command("rita", "report", "now it works")
        assert "stored safely" in h.received("rita")[-2]


async def test_a_flood_is_slowed_down_once_and_emergencies_still_pass(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        await h.command("rita", "report", "first")
        for number in range(40):
            await h.transport.say("memory:rita", f"message {number}")
        await h.settle()
        assert len([t for t in h.received("rita") if "very quickly" in t]) == 1
        await h.command("rita", "sos")
        assert "alerting the response team now" in h.last("rita")
        await h.advance(timedelta(minutes=2))
        await h.say("rita", "By the main stage")
        assert "The team has your location" in h.last("rita"), "after the minute, messages are read again"


async def test_oversized_responder_texts_are_refused(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        ref = await guided_report(h)
        await h.command("ana", "claim", ref)
        await h.command("ana", "note", f"{ref} {'x' * 5000}")
        assert "too long" in h.last("ana")


async def test_conflict_of_interest_holds_for_every_view(tmp_path: Path) -> None:
    space = replace(demo_space(), handling=HandlingPolicy())
    async with memory_haven(tmp_path, space) as h:
        await h.command("rita", "report")
        for answer in ("No", "It happened to me", "Harassment or unwanted contact"):
            await h.choose("rita", answer)
        await h.say("rita", "today")
        await h.say("rita", "Cora from the team")
        await h.say("rita", "She said terrible things")
        await h.choose("rita", "✔ Done")
        await h.choose("rita", "Anyone on duty")
        await h.choose("rita", "Yes, contact me here, but keep me anonymous")
        await h.choose("rita", "✔ Send report")
        ref = reference_in(h.last("rita"))
        for command in ("ack", "claim", "join", "note", "related"):
            await h.command("cora", command, f"{ref} x")
            assert ref in h.last("cora") and "do not know a case" in h.last("cora"), command
        await h.command("cora", "cases")
        assert ref not in h.last("cora")
        assert not any("She said terrible things" in t for t in h.received("cora"))


async def test_changes_to_a_running_bot_follow_the_rotated_keyring(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    write_keyring(key_file, [MASTER_KEY])
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), transport=transport) as h:
        h.haven.store.vault.source = key_file
        new = bytes(range(1, 33))
        write_keyring(key_file, [new, MASTER_KEY])
        assert h.haven.store.vault.reload()
        ref = await guided_report(h)
        raw = sqlite3.connect(tmp_path / "haven.db")
        newest = raw.execute("SELECT wrapped FROM keys ORDER BY id DESC LIMIT 1").fetchone()[0]
        raw.close()
        assert h.haven.store.vault.wrapped_by_primary(newest), "new data keys are wrapped by the new key at once"
        assert ref
