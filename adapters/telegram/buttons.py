"""Callback data for inline buttons: compact, signed, bound to one chat and one question.

Telegram returns whatever ``callback_data`` a client sends, and allows 64 bytes of it. A button here
carries ``<question>.<mac>.<key>``: the core's button key, the question number it answers (empty when
the button answers no particular question, e.g. on a card) and an HMAC of both plus the chat it was
sent to. Data forged, altered or replayed from another chat fails :func:`verify`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

MAX_BYTES = 64
_MAC_BYTES = 9  # 72 bits: 12 base64 characters; every guess costs the attacker a round trip
_QUESTION = re.compile(r"^[0-9]{0,18}$")


def _mac(secret: bytes, chat: str, question: str, key: str) -> str:
    message = "\x1f".join((chat, question, key)).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def sign(secret: bytes, chat: str, key: str, question: int | None = None) -> str:
    """The callback data of a button with ``key`` sent to ``chat`` (a native Telegram chat id)."""
    number = "" if question is None else str(question)
    data = f"{number}.{_mac(secret, chat, number, key)}.{key}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"button key of {len(key.encode())} bytes does not fit Telegram's 64-byte callback data")
    return data


def parse(data: str) -> tuple[int | None, str, str] | None:
    """``(question, mac, key)`` without checking the signature, or None if the data is not ours."""
    number, dot, rest = data.partition(".")
    mac, dot2, key = rest.partition(".")
    if not dot or not dot2 or not _QUESTION.match(number) or not key:
        return None
    return (int(number) if number else None), mac, key


def verify(secret: bytes, chat: str, data: str) -> tuple[str, int | None] | None:
    """``(key, question)`` if ``data`` was signed for ``chat`` with ``secret``, otherwise None."""
    parsed = parse(data)
    if parsed is None:
        return None
    question, mac, key = parsed
    number = "" if question is None else str(question)
    if not hmac.compare_digest(mac.encode(), _mac(secret, chat, number, key).encode()):
        return None
    return key, question
