"""Shared fixtures. Unit tests are guarded against the network (see tests/unit/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.ids import ChatAddress, Identity, SpaceId
from bot.domain.model import Person
from bot.domain.space import ContactKind, HandlingPolicy, Space


def person(platform: str, name: str, *languages: str) -> Person:
    return Person((Identity(f"{platform}:{name.lower()}"),), name, tuple(languages) or ("en",))


def demo_space(platform: str = "memory", room: str | None = None, **overrides: object) -> Space:
    """The space every journey test uses: two responders, a coordinator, a team room."""
    people = (
        person(platform, "Ana", "en", "es"),
        person(platform, "Ben", "en", "sv"),
        person(platform, "Cora", "en"),
    )
    values: dict[str, object] = {
        "id": SpaceId("demo"),
        "name": "Demo Camp",
        "timezone": "Europe/Stockholm",
        "languages": ("en", "sv"),
        "team_rooms": (ChatAddress(room or f"{platform}:!team"),),
        "coordinators": (Identity(f"{platform}:cora"),),
        "responders": people,
        "code_word": "blue umbrella",
        "contacts": {
            ContactKind.EMERGENCY: ("Ambulance and police: 112",),
            ContactKind.SECURITY: ("Venue security: +46 8 000 000",),
            ContactKind.PSYCHOLOGICAL: ("Listening line: +46 8 111 111",),
        },
        "handling": HandlingPolicy(unclaimed_after=timedelta(minutes=10)),
    }
    values.update(overrides)
    return Space(**values)  # type: ignore[arg-type]


@pytest.fixture
def space() -> Space:
    return demo_space()
