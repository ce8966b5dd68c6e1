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


_HANDLE = re.compile(r"[@#]?[\w.+-]+@[\w-]+\.[\w.-]+|@[\w.-]{2,}(?::[\w.-]+)?", re.UNICODE)
_SEPARATORS = re.compile(r"[,;\n/]|\band\b|\bund\b|\boch\b|\by\b|\bet\b|\bи\b|&|\+", re.IGNORECASE)


def identifiers(text: str) -> set[str]:
    """The people a "who was involved" answer names: each listed name, and every handle or address.

    "John Smith and @jsmith, a man in red" gives "john smith", "jsmith", "a man in red". Matching is on
    whole normalised identifiers, so two reports link only when they name someone the same way.
    """
    found = {fold(match.group(0)) for match in _HANDLE.finditer(text)}
    for part in _SEPARATORS.split(_HANDLE.sub(" ", text)):
        name = fold(part)
        if len(name) >= 3:
            found.add(name)
    return {name for name in found if name}
