"""Encryption at rest.

Every sensitive record (a case, a conversation, a reporter's link to their chat, a ban) has its own
256-bit data key. Data keys are stored wrapped (AES-256-GCM) under the master key, which lives in a
file outside the database. Destroying a record's wrapped key erases the record: its ciphertext stays
behind but can never be read again.

The master key file is a keyring: one key per line (hex), the first one wraps new data keys, the
others only unwrap. Each wrapped key starts with the fingerprint of the master key that wrapped it,
so ``haven rotate-key`` can put a new key first, re-wrap every data key in the background while Haven
keeps running (it reloads the keyring when the file changes), and finally drop the old key.

Lookups that must not reveal identities (which conversation belongs to which chat) use keyed hashes
(HMAC-SHA256) under a secret that is itself a wrapped data key, so rotation keeps them stable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FINGERPRINT_BYTES = 8
_WRAP_AAD = b"haven/data-key/v1"


class DecryptionError(Exception):
    """Ciphertext that does not open: wrong key, destroyed key, or tampering."""


def fingerprint(key: bytes) -> bytes:
    return hashlib.sha256(b"haven/fingerprint/" + key).digest()[:FINGERPRINT_BYTES]


def read_keyring(path: Path) -> list[bytes]:
    """The master keys in a key file, the one that wraps new keys first."""
    keys = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise ValueError(f"{path}: line {number} is not a master key ({KEY_BYTES * 2} hex digits)")
        keys.append(key)
    if not keys:
        raise ValueError(f"{path}: no master key in the file")
    return keys


def write_keyring(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Haven master keys: the first wraps new data keys. Keep this file out of backups.\n")
        handle.writelines(key.hex() + "\n" for key in keys)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_or_create_master_key(path: Path) -> list[bytes]:
    """The keyring in ``path``, creating the file with one new key (mode 0600) if it is missing."""
    if not path.exists():
        write_keyring(path, [secrets.token_bytes(KEY_BYTES)])
    return read_keyring(path)


class Vault:
    """Wraps and unwraps data keys under the master keyring; seals and opens records."""

    def __init__(self, master: bytes | Sequence[bytes], source: Path | None = None) -> None:
        self.source = source
        self._mtime = source.stat().st_mtime_ns if source is not None and source.exists() else None
        self._use(list(master) if not isinstance(master, bytes) else [master])

    def _use(self, keys: list[bytes]) -> None:
        if not keys or any(len(key) != KEY_BYTES for key in keys):
            raise ValueError("master keys must be 32 bytes")
        self._keys = {fingerprint(key): AESGCM(key) for key in keys}
        self.primary = fingerprint(keys[0])

    @property
    def fingerprints(self) -> tuple[bytes, ...]:
        return tuple(self._keys)

    def reload(self) -> bool:
        """Re-read the key file if it changed (``haven rotate-key`` was run). Returns True if it did."""
        if self.source is None or not self.source.exists():
            return False
        mtime = self.source.stat().st_mtime_ns
        if mtime == self._mtime:
            return False
        self._use(read_keyring(self.source))
        self._mtime = mtime
        return True

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form (what the database stores)."""
        key = AESGCM.generate_key(bit_length=256)
        return key, self.wrap(key)

    def wrap(self, key: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return self.primary + nonce + self._keys[self.primary].encrypt(nonce, key, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        master = self._keys.get(wrapped[:FINGERPRINT_BYTES])
        if master is None and self.reload():
            master = self._keys.get(wrapped[:FINGERPRINT_BYTES])
        if master is None:
            raise DecryptionError("data key is wrapped under a master key that is not in the keyring")
        body = wrapped[FINGERPRINT_BYTES:]
        try:
            return master.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], _WRAP_AAD)
        except (InvalidTag, ValueError) as error:
            raise DecryptionError("data key does not unwrap under this master key") from error

    def wrapped_by_primary(self, wrapped: bytes) -> bool:
        return wrapped[:FINGERPRINT_BYTES] == self.primary


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random nonce; ``aad`` binds the ciphertext to its row."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("record does not open") from error


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """A stable, non-reversible lookup key for ``value`` (hex, 32 characters)."""
    digest = hmac.new(secret, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
