"""Case references such as ``K7F-3QX`` and reporter pseudonyms.

The alphabet leaves out 0, 1, I and O so that a reference can be read aloud and typed back.
"""

from __future__ import annotations

import re
import secrets

from bot.domain.ids import CaseRef, Pseudonym

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE = re.compile(rf"^[{ALPHABET}]{{3}}-[{ALPHABET}]{{3}}$")
_LOOSE = re.compile(rf"[{ALPHABET}]{{3}}-?[{ALPHABET}]{{3}}")


def new_reference() -> CaseRef:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(6))
    return CaseRef(f"{chars[:3]}-{chars[3:]}")


def parse_reference(text: str) -> CaseRef | None:
    """Accept ``k7f3qx``, ``K7F-3QX`` or ``#K7F-3QX``; return the canonical form or None."""
    cleaned = text.strip().lstrip("#").upper().replace(" ", "")
    if len(cleaned) == 6 and "-" not in cleaned:
        cleaned = f"{cleaned[:3]}-{cleaned[3:]}"
    return CaseRef(cleaned) if REFERENCE.match(cleaned) else None


def find_reference(text: str) -> CaseRef | None:
    """The first reference written anywhere in a text."""
    match = _LOOSE.search(text.upper())
    return parse_reference(match.group(0)) if match else None


def new_code() -> str:
    """A one-time code for invitations and sign-off links."""
    return "".join(secrets.choice(ALPHABET) for _ in range(10))


def new_pseudonym() -> Pseudonym:
    """A neutral, language-free pseudonym shown to the team instead of the reporter."""
    return Pseudonym("R-" + "".join(secrets.choice(ALPHABET) for _ in range(4)))
