"""Encryption at rest.

Every sensitive record (a case, a conversation, a reporter's link to their chat) has its own
256-bit data key. Data keys are stored wrapped (AES-256-GCM) under the master key, which lives in a
file outside the database. Destroying a record's wrapped key erases the record: its ciphertext stays
behind but can never be read again. Rotating the master key re-wraps the data keys only.

Lookups that must not reveal identities (which conversation belongs to which chat) use keyed hashes
(HMAC-SHA256) under a secret that is itself a wrapped data key, so rotation keeps them stable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_AAD = b"haven/data-key/v1"


class DecryptionError(Exception):
    """Ciphertext that does not open: wrong key, destroyed key, or tampering."""


def load_or_create_master_key(path: Path) -> bytes:
    """Read the master key file, creating it with mode 0600 if it does not exist."""
    if path.exists():
        raw = path.read_bytes().strip()
        key = bytes.fromhex(raw.decode("ascii")) if len(raw) == KEY_BYTES * 2 else raw
        if len(key) != KEY_BYTES:
            raise ValueError(f"{path}: a master key must be {KEY_BYTES} bytes (or {KEY_BYTES * 2} hex digits)")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


class Vault:
    """Wraps and unwraps data keys, seals and opens records, computes keyed hashes."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self._master = AESGCM(master_key)
        self.fingerprint = hashlib.sha256(b"haven/fingerprint/" + master_key).hexdigest()[:16]

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form (what the database stores)."""
        key = AESGCM.generate_key(bit_length=256)
        return key, self.wrap(key)

    def wrap(self, key: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, key, _WRAP_AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _WRAP_AAD)
        except (InvalidTag, ValueError) as error:
            raise DecryptionError("data key does not unwrap under this master key") from error


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
