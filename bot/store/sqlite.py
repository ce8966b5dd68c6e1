"""The SQLite engine: aiosqlite, WAL, versioned migrations, sealed columns.

One connection and one writer: every transaction takes an asyncio lock, so the inbox processor, the
outbox sender and the timers never interleave half-done work. ``synchronous=FULL`` makes a committed
transaction survive a power cut, not only a process crash; throughput comes from batching work into
fewer transactions, not from weaker durability.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from bot.crypto import DecryptionError, Vault, keyed_hash, seal, unseal
from bot.domain.ids import CaseId, CaseRef, ChatAddress, Identity, Platform, Pseudonym, SpaceId, platform_of
from bot.domain.model import (
    Case,
    CaseContent,
    CaseEvent,
    CaseMessage,
    CaseState,
    Category,
    Contact,
    Lane,
    Outcome,
    Reporter,
    Role,
    Source,
    Urgency,
)
from bot.messages import Effect, Outgoing
from bot.ports import CardRef, Clock, InboundRow, StoredConversation, Timer
from bot.store.admin import AdminQueries
from bot.store.codec import decode_effect, dumps, encode_effect, from_ts, from_ts_required, loads, to_ts

GENESIS = "0" * 64
_CARD = "SELECT message_ref, thread_ref FROM cards WHERE case_ref = ? AND room = ?"
_SAVE_CARD = (
    "INSERT INTO cards (case_ref, room, message_ref, thread_ref) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (case_ref, room) DO UPDATE SET message_ref = excluded.message_ref, thread_ref = excluded.thread_ref"
)
_CASE_COLUMNS = (
    "id, ref, space, state, urgency, category, role, source, language, reporter, contact, created_at, "
    "updated_at, acknowledged_at, acknowledged_by, assignees, outcome, resolved_at, signed_off, key_id, linked_ban"
)


def migrations() -> list[tuple[int, str]]:
    """The numbered SQL files in ``bot/store/migrations``, in order."""
    found = []
    for entry in resources.files("bot.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def audit_hash(prev: str, at: float, space: str, actor: str, action: str, subject: str, detail: str) -> str:
    record = json.dumps([prev, repr(at), space, actor, action, subject, detail], ensure_ascii=False)
    return hashlib.sha256(record.encode()).hexdigest()


class SqliteStore:
    """The default :class:`bot.ports.Store`."""

    def __init__(self, path: Path | str, vault: Vault, clock: Clock) -> None:
        self.path = str(path)
        self.vault = vault
        self.clock = clock
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._keys: dict[int, bytes | None] = {}
        self._secrets: dict[str, bytes] = {}
        # Read-through caches of rows only this process writes; dropped whenever a transaction rolls back.
        self._settings: dict[str, str | None] = {}
        #: chat hash → the key id of its conversation row, or None when there is no row yet.
        self._conversation_keys: dict[str, int | None] = {}
        self._group: list[tuple[list[tuple[str, tuple[Any, ...]]], asyncio.Future[None]]] = []
        self._grouper: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db = db
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA busy_timeout=5000")
        await self._migrate()
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                for name in ("index", "transit", "buttons"):
                    self._secrets[name] = await self._ensure_secret(name)
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        if self._db is not None:
            async with self._lock:
                await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query in one hop to the database thread (a cursor would take three)."""
        return list(await self.db.execute_fetchall(sql, params))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.db.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def schema_version(self) -> int:
        row = await self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        current = await self.schema_version()
        for version, script in migrations():
            if version <= current:
                continue
            # executescript commits first; the script and the version bump then run as one.
            await self.db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={version};\nCOMMIT;")

    async def _ensure_secret(self, name: str) -> bytes:
        setting = f"secret.{name}"
        row = await self._one("SELECT value FROM settings WHERE name = ?", (setting,))
        if row is not None:
            key = await self._data_key(int(row[0]))
            if key is None:
                raise DecryptionError(f"the {name} secret was destroyed")
            return key
        key_id, key = await self._new_key(name)
        await self.db.execute("INSERT INTO settings (name, value) VALUES (?, ?)", (setting, str(key_id)))
        return key

    async def rewrap_keys(self, batch: int = 500) -> int:
        """Re-wrap data keys that are not wrapped by the primary master key (``haven rotate-key``).

        Runs in short transactions so the bot keeps serving while a rotation goes on.
        """
        async with self.transaction():
            primary = self.vault.primary  # a wrapped key starts with the fingerprint of its master key
            rows = await self._all(
                "SELECT id, wrapped FROM keys WHERE wrapped IS NOT NULL AND substr(wrapped, 1, ?) != ? LIMIT ?",
                (len(primary), primary, batch),
            )
            for key_id, wrapped in rows:
                await self.db.execute(
                    "UPDATE keys SET wrapped = ? WHERE id = ?", (self.vault.wrap(self.vault.unwrap(wrapped)), key_id)
                )
        return len(rows)

    def secret(self, name: str) -> bytes:
        """A named secret that survives restarts and key rotation (e.g. for signing buttons)."""
        return self._secrets[name]

    # --- keys and sealing --------------------------------------------------------------------

    async def _new_key(self, purpose: str) -> tuple[int, bytes]:
        key, wrapped = self.vault.new_data_key()
        cursor = await self.db.execute(
            "INSERT INTO keys (purpose, wrapped, created_at) VALUES (?, ?, ?)",
            (purpose, wrapped, to_ts(self.clock.now())),
        )
        key_id = int(cursor.lastrowid or 0)
        self._keys[key_id] = key
        return key_id, key

    async def _data_key(self, key_id: int) -> bytes | None:
        if key_id in self._keys:
            return self._keys[key_id]
        row = await self._one("SELECT wrapped FROM keys WHERE id = ?", (key_id,))
        key = self.vault.unwrap(row[0]) if row is not None and row[0] is not None else None
        if len(self._keys) > 20_000:
            self._keys.clear()
        self._keys[key_id] = key
        return key

    async def _destroy_key(self, key_id: int) -> None:
        await self.db.execute(
            "UPDATE keys SET wrapped = NULL, destroyed_at = ? WHERE id = ?", (to_ts(self.clock.now()), key_id)
        )
        self._keys[key_id] = None

    async def _seal(self, key_id: int, value: Any, aad: str) -> bytes:
        key = await self._data_key(key_id)
        if key is None:
            raise DecryptionError("cannot seal under a destroyed key")
        return seal(key, dumps(value), aad.encode())

    async def _open(self, key_id: int | None, blob: bytes | None, aad: str) -> Any:
        if key_id is None or blob is None:
            return None
        key = await self._data_key(key_id)
        if key is None:
            return None
        return loads(unseal(key, blob, aad.encode()))

    def _transit_seal(self, value: Any, aad: str) -> bytes:
        return seal(self._secrets["transit"], dumps(value), aad.encode())

    def _transit_open(self, blob: bytes, aad: str) -> Any:
        return loads(unseal(self._secrets["transit"], blob, aad.encode()))

    def chat_hash(self, chat: str) -> str:
        return keyed_hash(self._secrets["index"], "chat", chat)

    def identity_hash(self, space: str, identity: str) -> str:
        return keyed_hash(self._secrets["index"], f"identity/{space}", identity)

    # --- transactions ------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                tx = SqliteTx(self)
                yield tx
                await tx.flush()
            except BaseException:
                await self.db.execute("ROLLBACK")
                self._settings.clear()
                self._conversation_keys.clear()
                raise
            else:
                await self.db.execute("COMMIT")

    # --- inbox -------------------------------------------------------------------------------

    async def record_inbound(
        self,
        source: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        cursor: tuple[str, str] | None = None,
    ) -> int:
        now = to_ts(self.clock.now())
        rows = [
            (source, external_id, now, self._transit_seal(dict(payload), f"inbox/{source}/{external_id}"))
            for external_id, payload in items
        ]
        async with self.transaction():
            before = self.db.total_changes
            await self.db.executemany(
                "INSERT OR IGNORE INTO inbox (source, external_id, received_at, payload) VALUES (?, ?, ?, ?)",
                rows,
            )
            added = self.db.total_changes - before
            if cursor is not None:
                await self._set_setting(cursor[0], cursor[1])
        return added

    async def pending_inbound(self, limit: int = 100) -> list[InboundRow]:
        async with self._lock:
            rows = await self._all(
                "SELECT id, source, external_id, payload FROM inbox WHERE processed_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            )
        return [
            InboundRow(row[0], row[1], row[2], self._transit_open(row[3], f"inbox/{row[1]}/{row[2]}")) for row in rows
        ]

    async def claim_inbound(self, tx: Any, row_ids: Sequence[int]) -> set[int]:
        """Mark rows processed (and wipe their payloads) in the caller's transaction, in one statement.

        Returns the ids that were not processed yet: only those may be applied.
        """
        if not row_ids:
            return set()
        marks = ",".join("?" * len(row_ids))
        rows = await self._all(
            f"UPDATE inbox SET processed_at = ?, payload = NULL WHERE processed_at IS NULL AND id IN ({marks}) "
            "RETURNING id",
            (to_ts(self.clock.now()), *row_ids),
        )
        return {int(row[0]) for row in rows}

    async def stamp_applied(self, tx: Any, row_ids: Sequence[int]) -> None:
        """Record when claimed rows were applied (just before the commit): the inbound lag metrics and the
        benchmarks read ``received_at`` → ``processed_at``."""
        if row_ids:
            marks = ",".join("?" * len(row_ids))
            await self.db.execute(
                f"UPDATE inbox SET processed_at = ? WHERE id IN ({marks})", (to_ts(self.clock.now()), *row_ids)
            )

    async def quarantine_inbound(self, tx: Any, row_id: int) -> None:
        """Set a failing row aside: processed, but its sealed payload kept for a later replay."""
        await self.db.execute(
            "UPDATE inbox SET processed_at = ?, failed = 1 WHERE id = ?",
            (to_ts(self.clock.now()), row_id),
        )

    async def recall(self, name: str) -> str | None:
        async with self._lock:
            return await self._get_setting(name)

    async def remember(self, name: str, value: str) -> None:
        async with self.transaction():
            await self._set_setting(name, value)

    async def _get_setting(self, name: str) -> str | None:
        if name in self._settings:
            return self._settings[name]
        value = await self._read_setting(name)
        if len(self._settings) > 10_000:
            self._settings.clear()
        self._settings[name] = value
        return value

    async def _read_setting(self, name: str) -> str | None:
        row = await self._one("SELECT value FROM settings WHERE name = ?", (name,))
        return str(row[0]) if row else None

    async def _set_setting(self, name: str, value: str | None) -> None:
        self._settings[name] = value
        if value is None:
            await self.db.execute("DELETE FROM settings WHERE name = ?", (name,))
        else:
            await self.db.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # --- outbox ------------------------------------------------------------------------------

    def _outbox_row(self, key: str, lane: Lane, effect: Effect, not_before: datetime | None) -> tuple[Any, ...]:
        now = self.clock.now()
        payload = self._transit_seal(encode_effect(effect), f"outbox/{key}")
        return (
            key,
            platform_of(effect.to),
            int(lane),
            self.chat_hash(effect.to),
            payload,
            to_ts(not_before or now),
            to_ts(now),
        )

    async def _insert_outbox(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """One statement for everything a transaction queued; a key already queued is ignored."""
        if rows:
            await self.db.executemany(
                "INSERT OR IGNORE INTO outbox (key, platform, lane, chat_hash, payload, not_before, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def _outgoing(self, row: Sequence[Any]) -> Outgoing:
        item_id, key, lane, payload, attempts, created_at = row[:6]
        effect = decode_effect(self._transit_open(payload, f"outbox/{key}"))
        return Outgoing(
            id=item_id, key=key, lane=Lane(lane), effect=effect, attempts=attempts, queued_at=from_ts(created_at)
        )

    async def due_outgoing(self, platform: Platform, now: datetime, limit: int = 100) -> list[Outgoing]:
        async with self._lock:
            rows = await self._all(
                "SELECT id, key, lane, payload, attempts, created_at FROM outbox "
                "WHERE state = 'pending' AND platform = ? AND not_before <= ? ORDER BY lane, id LIMIT ?",
                (platform, to_ts(now), limit),
            )
        return [self._outgoing(row) for row in rows]

    async def outgoing_after(self, platform: Platform, after: int, limit: int = 1000) -> list[Outgoing]:
        """Pending rows of a platform with an id above ``after`` (the sender's incremental view)."""
        async with self._lock:
            rows = await self._all(
                "SELECT id, key, lane, payload, attempts, created_at FROM outbox "
                "WHERE state = 'pending' AND platform = ? AND id > ? ORDER BY id LIMIT ?",
                (platform, after, limit),
            )
        return [self._outgoing(row) for row in rows]

    async def start_sending(self, item_id: int) -> None:
        await self._grouped([("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", (item_id,))])

    async def finish_outgoing(
        self, item_id: int, state: str, *, detail: str = "", card: tuple[CaseRef, CardRef] | None = None
    ) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = []
        if card is not None:
            ref, where = card
            statements.append((_SAVE_CARD, (ref, where.room, where.message, where.thread)))
        statements.append(
            (
                "UPDATE outbox SET state = ?, finished_at = ?, payload = NULL, detail = ? WHERE id = ?",
                (state, to_ts(self.clock.now()), detail, item_id),
            )
        )
        await self._grouped(statements)

    async def retry_outgoing(self, item_id: int, at: datetime) -> None:
        await self._grouped(
            [("UPDATE outbox SET state = 'pending', not_before = ? WHERE id = ?", (to_ts(at), item_id))]
        )

    async def _grouped(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Group commit for the senders' small state changes: the changes asked for while a commit is
        under way are committed together in the next one. Each caller returns once its own change is
        durable, exactly as with a transaction of its own, but many sends share one fsync."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._group.append((statements, done))
        if self._grouper is None or self._grouper.done():
            self._grouper = asyncio.create_task(self._commit_groups())
        await done

    async def _commit_groups(self) -> None:
        while self._group:
            batch, self._group = self._group, []
            try:
                async with self.transaction():
                    for statements, _ in batch:
                        for sql, params in statements:
                            await self.db.execute(sql, params)
            except BaseException as error:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def card_of(self, case: CaseRef, room: ChatAddress) -> CardRef | None:
        """The platform references of a case's card (a read: no transaction, no commit)."""
        async with self._lock:
            row = await self._one(_CARD, (case, room))
        return CardRef(room, row[0], row[1]) if row else None

    async def interrupted_outgoing(self) -> list[Outgoing]:
        async with self._lock:
            rows = await self._all(
                "SELECT id, key, lane, payload, attempts, created_at FROM outbox WHERE state = 'sending' ORDER BY id"
            )
        return [self._outgoing(row) for row in rows]

    async def next_outgoing_at(self, platform: Platform) -> datetime | None:
        async with self._lock:
            row = await self._one(
                "SELECT MIN(not_before) FROM outbox WHERE state = 'pending' AND platform = ?", (platform,)
            )
        return from_ts(row[0]) if row else None

    async def pending_outgoing(self, platform: Platform) -> int:
        """Rows of a platform that are queued or being sent."""
        async with self._lock:
            row = await self._one(
                "SELECT COUNT(*) FROM outbox WHERE platform = ? AND state IN ('pending', 'sending')", (platform,)
            )
        return int(row[0]) if row else 0

    async def outbox_counts(self) -> dict[tuple[str, int, str], int]:
        """Rows per (platform, lane, state), for metrics and tests."""
        async with self._lock:
            return {
                (row[0], row[1], row[2]): row[3]
                for row in await self._all("SELECT platform, lane, state, COUNT(*) FROM outbox GROUP BY 1, 2, 3")
            }

    async def next_timer_at(self) -> datetime | None:
        async with self._lock:
            row = await self._one("SELECT MIN(due) FROM timers WHERE fired_at IS NULL AND cancelled = 0")
        return from_ts(row[0]) if row else None

    async def integrity_check(self) -> str:
        async with self._lock:
            row = await self._one("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"

    # --- audit -------------------------------------------------------------------------------

    async def verify_audit(self) -> tuple[int, str | None, str]:
        """Walk the hash chain: (entries checked, the first problem or None, the head hash)."""
        previous = GENESIS
        count = 0
        async with self._lock:
            rows = await self._all(
                "SELECT id, at, space, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY id"
            )
        for row_id, at, space, actor, action, subject, detail, prev_hash, digest in rows:
            if prev_hash != previous:
                return count, f"entry {row_id}: the entry before it was removed or changed", previous
            if audit_hash(prev_hash, at, space, actor, action, subject, detail) != digest:
                return count, f"entry {row_id}: its content was changed after it was written", previous
            previous = digest
            count += 1
        return count, None, previous

    async def _audit(self, at: datetime, space: str, actor: str, action: str, subject: str, detail: str) -> None:
        row = await self._one("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")
        prev = str(row[0]) if row else GENESIS
        stamp = float(to_ts(at) or 0.0)
        digest = audit_hash(prev, stamp, space, actor, action, subject, detail)
        await self.db.execute(
            "INSERT INTO audit (at, space, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (stamp, space, actor, action, subject, detail, prev, digest),
        )


class SqliteTx(AdminQueries):
    """A unit of work on :class:`SqliteStore` (see :class:`bot.ports.Tx`)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.db = store.db
        self._one = store._one
        self._all = store._all
        self._queued: list[tuple[Any, ...]] = []
        self._queued_keys: set[str] = set()
        #: Conversation rows saved in this transaction (chat hash → row), written by :meth:`flush`.
        self._conversations: dict[str, tuple[Any, ...]] = {}
        #: Conversation rows read ahead by :meth:`prefetch_conversations` (None: the chat has none).
        self._fetched: dict[str, tuple[Any, ...] | None] = {}

    # --- conversations -----------------------------------------------------------------------

    async def prefetch_conversations(self, chats: Iterable[ChatAddress]) -> None:
        """Read the conversations of a batch's chats in one query; each is used by its first read."""
        hashes = list({self.store.chat_hash(chat) for chat in chats})
        if not hashes:
            return
        rows = await self._all(
            "SELECT chat_hash, key_id, sealed, updated_at, reminded, has_draft FROM conversations "
            f"WHERE chat_hash IN ({', '.join('?' * len(hashes))})",
            hashes,
        )
        self._fetched.update(dict.fromkeys(hashes))
        self._fetched.update((row[0], tuple(row[1:])) for row in rows)

    async def conversation(self, chat: ChatAddress) -> StoredConversation | None:
        chat_hash = self.store.chat_hash(chat)
        if chat_hash in self._conversations:
            await self._write_conversations()
        if chat_hash in self._fetched:
            row = self._fetched.pop(chat_hash)
        else:
            row = await self._one(
                "SELECT key_id, sealed, updated_at, reminded, has_draft FROM conversations WHERE chat_hash = ?",
                (chat_hash,),
            )
        self.store._conversation_keys[chat_hash] = None if row is None else int(row[0])
        if row is None:
            return None
        data = await self.store._open(row[0], row[1], f"conversation/{chat_hash}")
        if data is None:
            return None
        return StoredConversation(
            chat=chat,
            language=data.get("language"),
            space=SpaceId(data["space"]) if data.get("space") else None,
            state=data.get("state", {}),
            updated_at=from_ts(row[2]),
            reminded=bool(row[3]),
            has_draft=bool(row[4]),
        )

    async def save_conversation(self, conversation: StoredConversation) -> None:
        chat_hash = self.store.chat_hash(conversation.chat)
        if chat_hash in self.store._conversation_keys:
            known = self.store._conversation_keys[chat_hash]
        else:
            row = await self._one("SELECT key_id FROM conversations WHERE chat_hash = ?", (chat_hash,))
            known = int(row[0]) if row is not None else None
        if known is not None and await self.store._data_key(known) is not None:
            key_id = known
        else:
            key_id, _ = await self.store._new_key("conversation")
        if len(self.store._conversation_keys) > 50_000:
            self.store._conversation_keys.clear()
        self.store._conversation_keys[chat_hash] = key_id
        sealed = await self.store._seal(
            key_id,
            {
                "chat": conversation.chat,
                "language": conversation.language,
                "space": conversation.space,
                "state": conversation.state,
            },
            f"conversation/{chat_hash}",
        )
        self._conversations[chat_hash] = (
            chat_hash,
            key_id,
            sealed,
            to_ts(conversation.updated_at or self.store.clock.now()),
            int(conversation.has_draft),
            int(conversation.reminded),
        )

    async def _write_conversations(self) -> None:
        for chat_hash in self._conversations:
            self._fetched.pop(chat_hash, None)  # read back from the table from now on
        await self.db.executemany(
            "INSERT INTO conversations (chat_hash, key_id, sealed, updated_at, has_draft, reminded) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_hash) DO UPDATE SET key_id = excluded.key_id, "
            "sealed = excluded.sealed, updated_at = excluded.updated_at, has_draft = excluded.has_draft, "
            "reminded = excluded.reminded",
            list(self._conversations.values()),
        )
        self._conversations.clear()

    async def delete_conversation(self, chat: ChatAddress) -> None:
        chat_hash = self.store.chat_hash(chat)
        self._conversations.pop(chat_hash, None)
        self._fetched.pop(chat_hash, None)
        self.store._conversation_keys.pop(chat_hash, None)
        row = await self._one("SELECT key_id FROM conversations WHERE chat_hash = ?", (chat_hash,))
        if row is not None:
            await self.store._destroy_key(int(row[0]))
            await self.db.execute("DELETE FROM conversations WHERE chat_hash = ?", (chat_hash,))

    async def idle_drafts(self, idle_since: datetime, limit: int = 100) -> list[StoredConversation]:
        if self._conversations:
            await self._write_conversations()
        rows = await self._all(
            "SELECT chat_hash, key_id, sealed, updated_at, reminded FROM conversations "
            "WHERE has_draft = 1 AND updated_at <= ? ORDER BY updated_at LIMIT ?",
            (to_ts(idle_since), limit),
        )
        found = []
        for chat_hash, key_id, sealed, updated_at, reminded in rows:
            data = await self.store._open(key_id, sealed, f"conversation/{chat_hash}")
            if data is None:
                continue
            found.append(
                StoredConversation(
                    chat=ChatAddress(data["chat"]),
                    language=data.get("language"),
                    space=SpaceId(data["space"]) if data.get("space") else None,
                    state=data.get("state", {}),
                    updated_at=from_ts(updated_at),
                    reminded=bool(reminded),
                    has_draft=True,
                )
            )
        return found

    # --- reporters ---------------------------------------------------------------------------

    async def _reporter_row(self, row: Sequence[Any] | None) -> Reporter | None:
        if row is None:
            return None
        space, pseudonym, key_id, sealed, language, blocked = row
        data = await self.store._open(key_id, sealed, f"reporter/{space}/{pseudonym}") or {}
        return Reporter(
            space=SpaceId(space),
            pseudonym=Pseudonym(pseudonym),
            chat=ChatAddress(data["chat"]) if data.get("chat") else None,
            identity=Identity(data["identity"]) if data.get("identity") else None,
            language=language,
            blocked=bool(blocked),
        )

    async def reporter_by_identity(self, space: SpaceId, identity: Identity) -> Reporter | None:
        return await self._reporter_row(
            await self._one(
                "SELECT space, pseudonym, key_id, sealed, language, blocked FROM reporters "
                "WHERE space = ? AND identity_hash = ?",
                (space, self.store.identity_hash(space, identity)),
            )
        )

    async def reporter(self, space: SpaceId, pseudonym: Pseudonym) -> Reporter | None:
        return await self._reporter_row(
            await self._one(
                "SELECT space, pseudonym, key_id, sealed, language, blocked FROM reporters "
                "WHERE space = ? AND pseudonym = ?",
                (space, pseudonym),
            )
        )

    async def save_reporter(self, reporter: Reporter) -> None:
        row = await self._one(
            "SELECT key_id FROM reporters WHERE space = ? AND pseudonym = ?", (reporter.space, reporter.pseudonym)
        )
        if row is not None and row[0] is not None and await self.store._data_key(row[0]) is not None:
            key_id = int(row[0])
        else:
            key_id, _ = await self.store._new_key("reporter")
        sealed = await self.store._seal(
            key_id,
            {"chat": reporter.chat, "identity": reporter.identity},
            f"reporter/{reporter.space}/{reporter.pseudonym}",
        )
        identity_hash = self.store.identity_hash(reporter.space, reporter.identity) if reporter.identity else None
        await self.db.execute(
            "INSERT INTO reporters (space, pseudonym, identity_hash, key_id, sealed, language, blocked, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (space, pseudonym) DO UPDATE SET "
            "identity_hash = excluded.identity_hash, key_id = excluded.key_id, sealed = excluded.sealed, "
            "language = excluded.language, blocked = excluded.blocked",
            (
                reporter.space,
                reporter.pseudonym,
                identity_hash,
                key_id,
                sealed,
                reporter.language,
                int(reporter.blocked),
                to_ts(self.store.clock.now()),
            ),
        )

    async def unlink_reporter(self, space: SpaceId, pseudonym: Pseudonym) -> None:
        row = await self._one("SELECT key_id FROM reporters WHERE space = ? AND pseudonym = ?", (space, pseudonym))
        if row is None:
            return
        if row[0] is not None:
            await self.store._destroy_key(int(row[0]))
        await self.db.execute(
            "UPDATE reporters SET identity_hash = NULL, sealed = NULL, key_id = NULL WHERE space = ? AND pseudonym = ?",
            (space, pseudonym),
        )

    # --- cases -------------------------------------------------------------------------------

    async def reference_taken(self, ref: CaseRef) -> bool:
        return await self._one("SELECT 1 FROM cases WHERE ref = ?", (ref,)) is not None

    def _case_values(self, case: Case) -> tuple[Any, ...]:
        return (
            case.state.value,
            case.urgency.value,
            case.category.value,
            case.role.value,
            case.source.value,
            case.language,
            case.reporter,
            case.contact.value,
            to_ts(case.created_at),
            to_ts(case.updated_at),
            to_ts(case.acknowledged_at),
            case.acknowledged_by,
            json.dumps(list(case.assignees)),
            case.outcome.value if case.outcome else None,
            to_ts(case.resolved_at),
            None if case.signed_off is None else int(case.signed_off),
            case.linked_ban,
        )

    async def add_case(self, case: Case) -> Case:
        key_id, _ = await self.store._new_key("case")
        content = case.content or CaseContent()
        sealed = await self.store._seal(key_id, content.to_json(), f"case/{case.ref}")
        cursor = await self.db.execute(
            "INSERT INTO cases (state, urgency, category, role, source, language, reporter, contact, created_at, "
            "updated_at, acknowledged_at, acknowledged_by, assignees, outcome, resolved_at, signed_off, linked_ban, "
            "ref, space, key_id, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*self._case_values(case), case.ref, case.space, key_id, sealed),
        )
        return replace(case, id=CaseId(int(cursor.lastrowid or 0)), content=content)

    async def save_case(self, case: Case) -> None:
        if case.id is None:
            raise ValueError("save_case needs a stored case")
        await self.db.execute(
            "UPDATE cases SET state = ?, urgency = ?, category = ?, role = ?, source = ?, language = ?, "
            "reporter = ?, contact = ?, created_at = ?, updated_at = ?, acknowledged_at = ?, acknowledged_by = ?, "
            "assignees = ?, outcome = ?, resolved_at = ?, signed_off = ?, linked_ban = ? WHERE id = ?",
            (*self._case_values(case), case.id),
        )
        if case.content is not None:
            row = await self._one("SELECT key_id FROM cases WHERE id = ?", (case.id,))
            if row is not None and row[0] is not None and await self.store._data_key(row[0]) is not None:
                sealed = await self.store._seal(row[0], case.content.to_json(), f"case/{case.ref}")
                await self.db.execute("UPDATE cases SET content = ? WHERE id = ?", (sealed, case.id))

    async def _case_from_row(self, row: Sequence[Any], content_blob: bytes | None = None) -> Case:
        (
            case_id,
            ref,
            space,
            state,
            urgency,
            category,
            role,
            source,
            language,
            reporter,
            contact,
            created_at,
            updated_at,
            acknowledged_at,
            acknowledged_by,
            assignees,
            outcome,
            resolved_at,
            signed_off,
            key_id,
            linked_ban,
        ) = row[:21]
        content = None
        if content_blob is not None:
            data = await self.store._open(key_id, content_blob, f"case/{ref}")
            content = CaseContent.from_json(data) if data is not None else None
        return Case(
            id=CaseId(case_id),
            ref=CaseRef(ref),
            space=SpaceId(space),
            state=CaseState(state),
            urgency=Urgency(urgency),
            category=Category(category),
            role=Role(role),
            source=Source(source),
            language=language,
            reporter=Pseudonym(reporter) if reporter else None,
            contact=Contact(contact),
            created_at=from_ts_required(created_at),
            updated_at=from_ts_required(updated_at),
            acknowledged_at=from_ts(acknowledged_at),
            acknowledged_by=Identity(acknowledged_by) if acknowledged_by else None,
            assignees=tuple(Identity(a) for a in json.loads(assignees)),
            outcome=Outcome(outcome) if outcome else None,
            resolved_at=from_ts(resolved_at),
            signed_off=None if signed_off is None else bool(signed_off),
            linked_ban=linked_ban,
            content=content,
        )

    async def case(self, ref: CaseRef) -> Case | None:
        row = await self._one(f"SELECT {_CASE_COLUMNS}, content FROM cases WHERE ref = ?", (ref,))
        return await self._case_from_row(row, row[21]) if row else None

    async def case_by_id(self, case_id: CaseId) -> Case | None:
        row = await self._one(f"SELECT {_CASE_COLUMNS}, content FROM cases WHERE id = ?", (case_id,))
        return await self._case_from_row(row, row[21]) if row else None

    async def cases(
        self,
        *,
        space: SpaceId | None = None,
        reporter: Pseudonym | None = None,
        open_only: bool = False,
        limit: int | None = None,
    ) -> list[Case]:
        clauses: list[str] = []
        params: list[Any] = []
        if space is not None:
            clauses.append("space = ?")
            params.append(space)
        if reporter is not None:
            clauses.append("reporter = ?")
            params.append(reporter)
        if open_only:
            clauses.append("state NOT IN ('resolved', 'withdrawn')")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY created_at, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = await self._all(sql, params)
        return [await self._case_from_row(row) for row in rows]

    async def destroy_case_content(self, case_id: CaseId) -> None:
        row = await self._one("SELECT key_id FROM cases WHERE id = ?", (case_id,))
        if row is not None and row[0] is not None:
            await self.store._destroy_key(int(row[0]))
        await self.db.execute(
            "UPDATE cases SET content = NULL, purged_at = ? WHERE id = ?", (to_ts(self.store.clock.now()), case_id)
        )
        await self.db.execute("DELETE FROM case_messages WHERE case_id = ?", (case_id,))
        await self.db.execute("DELETE FROM person_tokens WHERE case_id = ?", (case_id,))

    async def purgeable_cases(self, space: SpaceId, closed_before: datetime) -> list[Case]:
        """Closed cases of a space whose retention has run out and whose content still exists."""
        rows = await self._all(
            f"SELECT {_CASE_COLUMNS} FROM cases WHERE space = ? AND state IN ('resolved', 'withdrawn') "
            "AND purged_at IS NULL AND COALESCE(resolved_at, updated_at) < ? ORDER BY id",
            (space, to_ts(closed_before)),
        )
        return [await self._case_from_row(row) for row in rows]

    async def add_event(self, case_id: CaseId, event: CaseEvent) -> None:
        await self.db.execute(
            "INSERT INTO case_events (case_id, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?)",
            (case_id, to_ts(event.at), event.actor, event.kind, json.dumps(event.detail, ensure_ascii=False)),
        )

    async def events(self, case_id: CaseId) -> list[CaseEvent]:
        rows = await self._all(
            "SELECT at, actor, kind, detail FROM case_events WHERE case_id = ? ORDER BY id", (case_id,)
        )
        return [CaseEvent(from_ts_required(at), actor, kind, json.loads(detail)) for at, actor, kind, detail in rows]

    async def _case_key(self, case_id: CaseId) -> tuple[int | None, str]:
        row = await self._one("SELECT key_id, ref FROM cases WHERE id = ?", (case_id,))
        if row is None:
            raise KeyError(case_id)
        return row[0], row[1]

    async def add_message(self, case_id: CaseId, message: CaseMessage) -> None:
        key_id, ref = await self._case_key(case_id)
        if key_id is None or await self.store._data_key(key_id) is None:
            raise DecryptionError("the case content was erased")
        body = await self.store._seal(key_id, [message.author, message.body], f"message/{ref}")
        await self.db.execute(
            "INSERT INTO case_messages (case_id, at, kind, author, body) VALUES (?, ?, ?, ?, ?)",
            (case_id, to_ts(message.at), message.kind, "", body),
        )

    async def messages(self, case_id: CaseId) -> list[CaseMessage]:
        key_id, ref = await self._case_key(case_id)
        rows = await self._all("SELECT at, kind, body FROM case_messages WHERE case_id = ? ORDER BY id", (case_id,))
        found = []
        for at, kind, body in rows:
            opened = await self.store._open(key_id, body, f"message/{ref}")
            if opened is not None:
                found.append(CaseMessage(from_ts_required(at), opened[0], kind, opened[1]))
        return found

    # --- cards -------------------------------------------------------------------------------

    async def card(self, case: CaseRef, room: ChatAddress) -> CardRef | None:
        row = await self._one(_CARD, (case, room))
        return CardRef(room, row[0], row[1]) if row else None

    async def save_card(self, case: CaseRef, card: CardRef) -> None:
        await self.db.execute(_SAVE_CARD, (case, card.room, card.message, card.thread))

    async def case_for_message(self, room: ChatAddress, message: str) -> CaseRef | None:
        row = await self._one("SELECT case_ref FROM cards WHERE room = ? AND message_ref = ?", (room, message))
        return CaseRef(row[0]) if row else None

    async def case_for_thread(self, room: ChatAddress, thread: str) -> CaseRef | None:
        row = await self._one(
            "SELECT case_ref FROM cards WHERE room = ? AND (thread_ref = ? OR message_ref = ?)", (room, thread, thread)
        )
        return CaseRef(row[0]) if row else None

    # --- outbox ------------------------------------------------------------------------------

    async def enqueue(self, key: str, lane: Lane, effect: Effect, *, not_before: datetime | None = None) -> None:
        """Buffered, in order, and written with the transaction's other work just before it commits."""
        if key not in self._queued_keys:
            self._queued_keys.add(key)
            self._queued.append(self.store._outbox_row(key, lane, effect, not_before))

    async def flush(self) -> None:
        """Write what the transaction buffered (conversations, outbox rows): called just before COMMIT."""
        if self._conversations:
            await self._write_conversations()
        await self.store._insert_outbox(self._queued)
        self._queued.clear()

    # --- timers ------------------------------------------------------------------------------

    async def add_timer(
        self, kind: str, due: datetime, *, case: CaseId | None = None, data: Mapping[str, Any] | None = None
    ) -> int:
        cursor = await self.db.execute(
            "INSERT INTO timers (kind, due, case_id, data, created_at) VALUES (?, ?, ?, ?, ?)",
            (kind, to_ts(due), case, json.dumps(dict(data or {})), to_ts(self.store.clock.now())),
        )
        return int(cursor.lastrowid or 0)

    def _timer(self, row: Sequence[Any]) -> Timer:
        timer_id, kind, due, case_id, data = row
        return Timer(timer_id, kind, from_ts_required(due), CaseId(case_id) if case_id else None, json.loads(data))

    async def due_timers(self, now: datetime, limit: int = 500) -> list[Timer]:
        return [
            self._timer(row)
            for row in await self._all(
                "SELECT id, kind, due, case_id, data FROM timers WHERE fired_at IS NULL AND cancelled = 0 AND due <= ? "
                "ORDER BY due, id LIMIT ?",
                (to_ts(now), limit),
            )
        ]

    async def finish_timer(self, timer_id: int, fired_at: datetime) -> None:
        await self.db.execute("UPDATE timers SET fired_at = ? WHERE id = ?", (to_ts(fired_at), timer_id))

    async def cancel_timers(self, case: CaseId, kinds: Sequence[str] | None = None) -> int:
        sql = "UPDATE timers SET cancelled = 1 WHERE case_id = ? AND fired_at IS NULL AND cancelled = 0"
        params: list[Any] = [case]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        cursor = await self.db.execute(sql, params)
        return cursor.rowcount

    async def pending_timers(self, kind: str) -> list[Timer]:
        return [
            self._timer(row)
            for row in await self._all(
                "SELECT id, kind, due, case_id, data FROM timers WHERE kind = ? AND fired_at IS NULL AND cancelled = 0 "
                "ORDER BY due, id",
                (kind,),
            )
        ]

    async def timers(self, case: CaseId) -> list[Timer]:
        return [
            self._timer(row)
            for row in await self._all(
                "SELECT id, kind, due, case_id, data FROM timers WHERE case_id = ? AND fired_at IS NULL AND cancelled = 0 "
                "ORDER BY due, id",
                (case,),
            )
        ]

    # --- audit and settings ------------------------------------------------------------------

    async def audit(
        self, at: datetime, space: SpaceId | str, actor: str, action: str, subject: str = "", detail: str = ""
    ) -> None:
        await self.store._audit(at, space, actor, action, subject, detail)

    async def setting(self, name: str) -> str | None:
        return await self.store._get_setting(name)

    async def set_setting(self, name: str, value: str | None) -> None:
        await self.store._set_setting(name, value)
