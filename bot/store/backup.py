"""Online backups and careful restores of the SQLite database.

``backup`` copies one consistent snapshot with SQLite's backup API while Haven keeps running (WAL lets
the bot write meanwhile). The copy is the database's pages as they are: sealed columns stay sealed.
The master key is never stored in the database, so no backup contains it: keep it somewhere else.

``restore`` refuses to touch a database that a running Haven holds (``haven run`` keeps an exclusive
lock on ``<database>.lock``), checks the backup's integrity, and opens a staged copy with the master
key before putting it in place: a backup that the key does not open is refused. The database it
replaces is kept beside it as ``<database>.before-restore-<time>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from bot.clock import SystemClock
from bot.crypto import DecryptionError, Vault, read_keyring
from bot.store.sqlite import SqliteStore, migrations


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


class DatabaseBusy(BackupError):
    pass


class DatabaseLock:
    """An exclusive, advisory lock that a running Haven holds on its database (released when it exits)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseBusy(
                f"a running Haven holds {self.path.with_suffix('')}: stop it first (systemctl stop haven, "
                "or docker compose stop haven)"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


@dataclass(frozen=True, slots=True)
class Summary:
    """What a backup or a restored database holds, in numbers only."""

    path: Path
    size: int
    schema_version: int
    cases: int


def _summary(path: Path, db: sqlite3.Connection) -> Summary:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    cases = int(db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]) if version else 0
    return Summary(path, path.stat().st_size, version, cases)


def _integrity(db: sqlite3.Connection, what: str) -> None:
    result = db.execute("PRAGMA integrity_check").fetchone()
    if result is None or result[0] != "ok":
        raise BackupError(f"{what} fails SQLite's integrity check: {result[0] if result else 'no answer'}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """Copy ``source`` into a new file ``target`` (mode 0600) as one self-contained file."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)  # all pages in one step: one consistent snapshot
        destination.execute("PRAGMA journal_mode=DELETE")  # no -wal file to carry around
        _integrity(destination, "the copy")
    finally:
        destination.close()
    with target.open("rb+") as handle:
        os.fsync(handle.fileno())


def backup(database: Path, target: Path) -> Summary:
    """Write a consistent copy of ``database`` to ``target`` while Haven may be running."""
    if not database.is_file():
        raise BackupError(f"{database} does not exist: check [storage] url in the configuration")
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file name (backups are never overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=30)
    try:
        _copy(source, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    _fsync_dir(target.parent)
    with contextlib.closing(sqlite3.connect(target)) as db:
        return _summary(target, db)


def read_master_key(path: Path) -> list[bytes]:
    """The existing master keyring (restore must never create a new one)."""
    if not path.is_file():
        raise BackupError(
            f"the master key file {path} is missing: put the master key that belongs to the backup there first"
        )
    try:
        return read_keyring(path)
    except (UnicodeDecodeError, ValueError) as error:
        raise BackupError(f"{path} does not hold a master key") from error


async def _open_with_key(path: Path, master_key: Sequence[bytes]) -> int:
    """Open ``path`` as Haven would (migrations included) and read every case; returns how many."""
    try:
        vault = Vault(master_key)
    except ValueError as error:
        raise BackupError(f"the master key is not usable: {error}") from error
    store = SqliteStore(path, vault, SystemClock())
    try:
        await store.open()
    except DecryptionError as error:
        await store.close()
        raise BackupError(
            "the master key does not open this backup: use the master key file that was in use when it was taken"
        ) from error
    except BaseException:
        await store.close()
        raise
    try:
        async with store.transaction() as tx:
            cases = await tx.cases()
            for case in cases:
                await tx.case(case.ref)  # raises DecryptionError if a sealed record does not open
    except DecryptionError as error:
        raise BackupError("some records in the backup do not open with this master key") from error
    finally:
        await store.close()
    return len(cases)


def _discard(staged: Path) -> None:
    for leftover in (staged, Path(f"{staged}-wal"), Path(f"{staged}-shm")):
        leftover.unlink(missing_ok=True)


def _stage(source: Path, database: Path) -> Path:
    """Check the backup and copy it next to the database; returns the staged copy."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    latest = max((version for version, _ in migrations()), default=0)
    try:
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{source} cannot be opened: {error}") from error
    staged = database.with_name(f".{database.name}.restoring")
    _discard(staged)
    try:
        try:
            _integrity(backup_db, str(source))
            version = int(backup_db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{source} is not a Haven database: {error}") from error
        if version == 0:
            raise BackupError(f"{source} is not a Haven database (no schema)")
        if version > latest:
            raise BackupError(
                f"{source} comes from a newer Haven (schema {version}, this one knows {latest}): upgrade first"
            )
        _copy(backup_db, staged)
    except BaseException:
        _discard(staged)
        raise
    finally:
        backup_db.close()
    return staged


def _put_in_place(staged: Path, database: Path) -> Summary:
    """Keep the current database (and its WAL) aside, then move the staged copy in."""
    if database.exists():
        kept = database.with_name(f"{database.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        os.replace(database, kept)
        wal = Path(f"{database}-wal")
        if wal.exists():
            os.replace(wal, Path(f"{kept}-wal"))
    Path(f"{database}-shm").unlink(missing_ok=True)
    Path(f"{database}-wal").unlink(missing_ok=True)
    if os.geteuid() == 0:  # restored by root (who can read the master key): Haven's user must own it
        owner = database.parent.stat()
        os.chown(staged, owner.st_uid, owner.st_gid)
    os.replace(staged, database)
    _fsync_dir(database.parent)
    with contextlib.closing(sqlite3.connect(database)) as db:
        return _summary(database, db)


async def restore(source: Path, database: Path, master_key: Sequence[bytes]) -> Summary:
    """Replace ``database`` with the backup ``source``, after checking it and its key.

    Blocking file work is done inline on purpose: this runs from the command line, with Haven stopped.
    """
    with DatabaseLock(database):
        staged = _stage(source, database)
        try:
            await _open_with_key(staged, master_key)
        except BaseException:
            _discard(staged)
            raise
        return _put_in_place(staged, database)
