"""Normalising people's names for matching without keeping them readable (bans, repeated reports)."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[\w@.'-]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation at word edges dropped."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return " ".join(w.strip("@.'-") for w in _WORD.findall(stripped) if w.strip("@.'-"))


def phrases(text: str, longest: int = 4) -> set[str]:
    """Every run of one to ``longest`` words in a text: "a green jacket" gives "a", "a green", …"""
    words = fold(text).split()
    found = set()
    for size in range(1, longest + 1):
        for start in range(len(words) - size + 1):
            found.add(" ".join(words[start : start + size]))
    return found


def aliases(label: str) -> list[str]:
    """The names a ban is known by: "John Smith (jsmith), J. Smith" gives three aliases."""
    return [name for name in (fold(part) for part in re.split(r"[,;/()]", label)) if name]
