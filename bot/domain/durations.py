"""Durations as written in the configuration and in commands: ``90s``, ``5m``, ``2h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """Parse ``"90s"``, ``"5m"``, ``"1h30m"``; raise :class:`DurationError` otherwise."""
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise DurationError("empty duration")
    seconds = 0
    position = 0
    for match in _PART.finditer(compact):
        if match.start() != position:
            raise DurationError(f"not a duration: {text!r}")
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(compact):
        raise DurationError(f"not a duration: {text!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The inverse of :func:`parse_duration`, in the largest exact unit."""
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
