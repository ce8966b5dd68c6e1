"""Online backups and restores of the real SQLite database."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from bot import cli
from bot.bootstrap import open_store
from bot.crypto import load_or_create_master_key
from bot.domain.ids import CaseRef
from bot.domain.model import CaseState
from bot.store.backup import BackupError, DatabaseBusy, DatabaseLock, backup, restore
from tests.conftest import demo_space
from tests.harness import MASTER_KEY, MemoryHarness, memory_haven, reference_in


async def file_report(h: MemoryHarness, who: str, text: str) -> str:
    await h.command(who, "report", text)
    return reference_in(next(t for t in reversed(h.received(who)) if "stored safely" in t))


async def test_a_backup_taken_while_reporters_file_cases_restores_every_acknowledged_case(tmp_path: Path) -> None:
    database = tmp_path / "haven.db"
    target = tmp_path / "backups" / "haven-1.db"
    acknowledged: dict[str, str] = {}
    async with memory_haven(tmp_path, demo_space()) as h:
        for n in range(6):
            text = f"Report number {n}: someone took pictures of me without asking"
            ref = await file_report(h, f"reporter{n}", text)
            await h.command("ana", "ack", ref)
            acknowledged[ref] = text

        async def keep_filing() -> None:
            for n in range(6, 30):
                await file_report(h, f"reporter{n}", f"Report number {n}: a stranger keeps messaging me")

        filing = asyncio.create_task(keep_filing())
        await asyncio.sleep(0.05)
        assert not filing.done(), "the backup runs while cases are being filed"
        summary = await asyncio.to_thread(backup, database, target)
        during = filing.done()
        await filing
        assert not during
    assert summary.cases >= len(acknowledged)
    assert oct(target.stat().st_mode & 0o777) == "0o600"

    raw = target.read_bytes()
    assert b"someone took pictures" not in raw and b"stranger keeps" not in raw, "report content stays sealed"
    assert MASTER_KEY not in raw and MASTER_KEY.hex().encode() not in raw, "the master key is never in a backup"

    restored = tmp_path / "elsewhere" / "haven.db"
    result = await restore(target, restored, MASTER_KEY)
    assert result.cases == summary.cases
    store = open_store(restored, MASTER_KEY)
    await store.open()
    try:
        async with store.transaction() as tx:
            for ref, text in acknowledged.items():
                case = await tx.case(CaseRef(ref))
                assert case is not None, ref
                assert case.state == CaseState.ACKNOWLEDGED
                assert case.content is not None and text in case.content.details
    finally:
        await store.close()


async def test_restore_refuses_a_database_that_a_running_haven_holds(tmp_path: Path) -> None:
    database = tmp_path / "haven.db"
    async with memory_haven(tmp_path, demo_space()) as h:
        await file_report(h, "rita", "My laptop was stolen from the hall")
    backup(database, tmp_path / "copy.db")
    before = database.read_bytes()
    with DatabaseLock(database), pytest.raises(DatabaseBusy, match="a running Haven holds"):
        await restore(tmp_path / "copy.db", database, MASTER_KEY)
    assert database.read_bytes() == before


async def test_restore_refuses_a_backup_the_master_key_does_not_open(tmp_path: Path) -> None:
    database = tmp_path / "haven.db"
    async with memory_haven(tmp_path, demo_space()) as h:
        await file_report(h, "rita", "My laptop was stolen from the hall")
    backup(database, tmp_path / "copy.db")
    target = tmp_path / "new" / "haven.db"
    with pytest.raises(BackupError, match="master key does not open this backup"):
        await restore(tmp_path / "copy.db", target, bytes(32))
    assert not target.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["haven.db.lock"], "nothing staged is left behind"


async def test_restore_refuses_a_damaged_backup_and_keeps_the_database(tmp_path: Path) -> None:
    database = tmp_path / "haven.db"
    async with memory_haven(tmp_path, demo_space()) as h:
        await file_report(h, "rita", "My laptop was stolen from the hall")
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = database.read_bytes()
    with pytest.raises(BackupError):
        await restore(damaged, database, MASTER_KEY)
    assert database.read_bytes() == before


async def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()):
        pass
    (tmp_path / "copy.db").write_text("an older backup")
    with pytest.raises(BackupError, match="already exists"):
        backup(tmp_path / "haven.db", tmp_path / "copy.db")
    assert (tmp_path / "copy.db").read_text() == "an older backup"


async def test_the_backup_and_restore_commands_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    key_file = tmp_path / "keys" / "master.key"
    config = tmp_path / "haven.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{state}/haven.db"\nmaster_key_file = "{key_file}"\n')
    key = load_or_create_master_key(key_file)[0]
    store = open_store(state / "haven.db", key)
    await store.open()
    await store.close()

    out = tmp_path / "backups" / "b1.db"
    assert await asyncio.to_thread(cli.main, ["backup", "--config", str(config), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "backup written" in printed and "does not contain the master key" in printed
    assert key.hex() not in printed

    (state / "haven.db").unlink()
    assert await asyncio.to_thread(cli.main, ["restore", "--config", str(config), str(out)]) == 0
    assert "restored" in capsys.readouterr().out
    with sqlite3.connect(state / "haven.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    key_file.write_text(bytes(32).hex())
    assert await asyncio.to_thread(cli.main, ["restore", "--config", str(config), str(out)]) == 1
    assert "master key does not open this backup" in capsys.readouterr().err


def test_a_second_haven_does_not_start_on_a_database_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "haven.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path}/haven.db"\n\n[telegram]\ntoken = "123456:ABCDEFGHIJKLMNOP"\n\n'
        '[[spaces]]\nid = "camp"\nname = "Camp"\nteam_room = "telegram:-100123"\ncoordinators = ["telegram:111"]\n\n'
        '  [[spaces.responders]]\n  id = "telegram:111"\n  name = "Cora"\n'
    )
    with DatabaseLock(tmp_path / "haven.db"):
        assert cli.main(["run", "--config", str(config)]) == 1
    assert "a running Haven holds" in capsys.readouterr().err
