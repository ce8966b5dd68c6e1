"""Operator commands for the keys and the audit trail: ``haven rotate-key``, ``haven audit verify``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

from bot.clock import SystemClock
from bot.config import Settings
from bot.crypto import KEY_BYTES, Vault, read_keyring, write_keyring
from bot.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

#: A running Haven re-reads the key file every 10 seconds; wait longer before dropping the old key.
DEFAULT_GRACE = timedelta(seconds=25)


async def rotate_key(settings: Settings, grace: timedelta = DEFAULT_GRACE) -> tuple[int, str]:
    """Put a new master key first, re-wrap every data key under it, then drop the old keys.

    Haven may keep running: it reloads the keyring when the file changes, so data keys it creates
    meanwhile are wrapped by the new key (or re-wrapped by the last pass). Returns the number of data
    keys re-wrapped and the new key's fingerprint.
    """
    path = settings.storage.master_key_file
    old = read_keyring(path)
    new = secrets.token_bytes(KEY_BYTES)
    write_keyring(path, [new, *old])
    store = SqliteStore(settings.storage.path, Vault([new, *old], path), SystemClock())
    await store.open()
    try:
        total = await _rewrap_all(store)
        await asyncio.sleep(grace.total_seconds())
        total += await _rewrap_all(store)
        write_keyring(path, [new])
        store.vault.reload()
        total += await _rewrap_all(store)
    finally:
        await store.close()
    return total, store.vault.primary.hex()


async def _rewrap_all(store: SqliteStore) -> int:
    total = 0
    while count := await store.rewrap_keys():
        total += count
    return total


async def verify_audit(settings: Settings) -> tuple[int, str | None, str]:
    from bot.crypto import load_or_create_master_key

    key_file = settings.storage.master_key_file
    store = SqliteStore(settings.storage.path, Vault(load_or_create_master_key(key_file), key_file), SystemClock())
    await store.open()
    try:
        return await store.verify_audit()
    finally:
        await store.close()
