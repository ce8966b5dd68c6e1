"""SQL for coordinator data: changes to a space, configuration provenance, bans, one-time codes, audit."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.crypto import keyed_hash
from bot.domain.ids import SpaceId
from bot.domain.names import aliases, identifiers, phrases
from bot.ports import AuditEntry, Ban, Change, Code
from bot.store.codec import from_ts, to_ts

if TYPE_CHECKING:
    from bot.store.sqlite import SqliteStore


class AdminQueries:
    """Mixed into :class:`bot.store.sqlite.SqliteTx`."""

    store: SqliteStore

    async def changes(self, space: SpaceId) -> dict[str, Change]:
        rows = await self.store._all(
            "SELECT key, value, changed_at, changed_by FROM space_changes WHERE space = ?", (space,)
        )
        return {key: Change(key, json.loads(value), from_ts(at) or datetime.min, by) for key, value, at, by in rows}

    async def save_change(self, space: SpaceId, change: Change) -> None:
        await self.store.db.execute(
            "INSERT INTO space_changes (space, key, value, changed_at, changed_by) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at, "
            "changed_by = excluded.changed_by",
            (
                space,
                change.key,
                json.dumps(change.value, ensure_ascii=False),
                to_ts(change.changed_at),
                change.changed_by,
            ),
        )

    async def forget_change(self, space: SpaceId, key: str) -> None:
        await self.store.db.execute("DELETE FROM space_changes WHERE space = ? AND key = ?", (space, key))

    async def file_value_seen(self, space: SpaceId, key: str, digest: str, now: datetime) -> datetime:
        row = await self.store._one("SELECT digest, seen_at FROM file_values WHERE space = ? AND key = ?", (space, key))
        if row is not None and row[0] == digest:
            return from_ts(row[1]) or now
        await self.store.db.execute(
            "INSERT INTO file_values (space, key, digest, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (space, key) "
            "DO UPDATE SET digest = excluded.digest, seen_at = excluded.seen_at",
            (space, key, digest, to_ts(now)),
        )
        return now

    # --- bans ------------------------------------------------------------------------------------

    def _ban_hash(self, space: SpaceId, phrase: str) -> str:
        return keyed_hash(self.store.secret("index"), f"ban/{space}", phrase)

    async def add_ban(
        self, space: SpaceId, label: str, reason: str, by: str, at: datetime, expires_at: datetime | None
    ) -> int:
        key_id, _ = await self.store._new_key("ban")
        tokens = sorted({self._ban_hash(space, alias) for alias in aliases(label)})
        cursor = await self.store.db.execute(
            "INSERT INTO bans (space, key_id, sealed, tokens, created_at, created_by, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (space, key_id, b"", json.dumps(tokens), to_ts(at), by, to_ts(expires_at)),
        )
        ban_id = int(cursor.lastrowid or 0)
        sealed = await self.store._seal(key_id, {"label": label, "reason": reason}, f"ban/{space}/{ban_id}")
        await self.store.db.execute("UPDATE bans SET sealed = ? WHERE id = ?", (sealed, ban_id))
        return ban_id

    async def bans(self, space: SpaceId) -> list[Ban]:
        rows = await self.store._all(
            "SELECT id, key_id, sealed, created_at, created_by, expires_at, removed_at FROM bans "
            "WHERE space = ? ORDER BY id",
            (space,),
        )
        found = []
        for ban_id, key_id, sealed, created, by, expires, removed in rows:
            data = await self.store._open(key_id, sealed, f"ban/{space}/{ban_id}") or {}
            found.append(
                Ban(
                    ban_id,
                    space,
                    data.get("label", "—"),
                    data.get("reason", ""),
                    from_ts(created) or datetime.min,
                    by,
                    from_ts(expires),
                    from_ts(removed),
                )
            )
        return found

    async def remove_ban(self, space: SpaceId, ban_id: int, at: datetime) -> bool:
        cursor = await self.store.db.execute(
            "UPDATE bans SET removed_at = ? WHERE space = ? AND id = ? AND removed_at IS NULL",
            (to_ts(at), space, ban_id),
        )
        return cursor.rowcount == 1

    async def bans_matching(self, space: SpaceId, text: str, at: datetime) -> list[Ban]:
        wanted = {self._ban_hash(space, phrase) for phrase in phrases(text)}
        if not wanted:
            return []
        rows = await self.store._all(
            "SELECT id, tokens FROM bans WHERE space = ? AND removed_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
            (space, to_ts(at)),
        )
        hits = {ban_id for ban_id, tokens in rows if wanted & set(json.loads(tokens))}
        return [ban for ban in await self.bans(space) if ban.id in hits]

    # --- reports about the same person -------------------------------------------------------------

    async def index_people(self, space: SpaceId, case_id: int, text: str) -> None:
        """Remember, as keyed hashes only, whom a case's "who was involved" names."""
        secret = self.store.secret("index")
        tokens = {keyed_hash(secret, f"person/{space}", name) for name in identifiers(text)}
        await self.store.db.executemany(
            "INSERT OR IGNORE INTO person_tokens (space, token, case_id) VALUES (?, ?, ?)",
            [(space, token, case_id) for token in sorted(tokens)],
        )

    async def related_cases(self, space: SpaceId, case_id: int) -> list[str]:
        """References of the other cases of the space that name the same person."""
        return [
            str(row[0])
            for row in await self.store._all(
                "SELECT DISTINCT c.ref FROM person_tokens a JOIN person_tokens b ON a.space = b.space AND a.token = b.token "
                "JOIN cases c ON c.id = b.case_id WHERE a.space = ? AND a.case_id = ? AND b.case_id != ? ORDER BY c.id",
                (space, case_id, case_id),
            )
        ]

    # --- one-time codes --------------------------------------------------------------------------

    @staticmethod
    def _code_hash(code: str) -> str:
        return hashlib.sha256(code.strip().upper().encode()).hexdigest()

    async def add_code(self, code: str, value: Code, at: datetime) -> None:
        await self.store.db.execute(
            "INSERT INTO codes (code_hash, kind, space, data, created_at, created_by, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._code_hash(code),
                value.kind,
                value.space,
                json.dumps(dict(value.data)),
                to_ts(at),
                value.created_by,
                to_ts(value.expires_at),
            ),
        )

    async def use_code(self, code: str, by: str, at: datetime) -> Code | None:
        digest = self._code_hash(code)
        row = await self.store._one(
            "SELECT kind, space, data, created_by, expires_at FROM codes "
            "WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?",
            (digest, to_ts(at)),
        )
        if row is None:
            return None
        await self.store.db.execute(
            "UPDATE codes SET used_at = ?, used_by = ? WHERE code_hash = ?", (to_ts(at), by, digest)
        )
        kind, space, data, created_by, expires = row
        return Code(kind, SpaceId(space), json.loads(data), created_by, from_ts(expires) or at, at)

    # --- audit -----------------------------------------------------------------------------------

    async def audit_entries(self, space: SpaceId, subject: str | None = None, limit: int = 30) -> list[AuditEntry]:
        sql = "SELECT at, actor, action, subject, detail FROM audit WHERE space = ?"
        params: list[Any] = [space]
        if subject:
            sql += " AND subject = ?"
            params.append(subject)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = await self.store._all(sql, params)
        return [
            AuditEntry(from_ts(at) or datetime.min, actor, action, subj, detail)
            for at, actor, action, subj, detail in reversed(rows)
        ]
