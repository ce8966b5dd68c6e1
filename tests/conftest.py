"""Shared fixtures. Unit tests are guarded against the network (see tests/unit/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.domain.ids import ChatAddress, Identity, SpaceId
from bot.domain.model import Person
from bot.domain.space import ContactKind, HandlingPolicy, Space


def memory_address(name: str) -> str:
    return f"memory:{name}"


def demo_space(
    address: Callable[[str], str] = memory_address, room: str = "memory:!team", **overrides: object
) -> Space:
    """The space every journey test uses: two responders (Ana, Ben), a coordinator (Cora), a team room.

    ``address`` turns a first name ("ana") into that person's identity on the platform under test.
    """

    def person(name: str, *languages: str) -> Person:
        return Person((Identity(address(name.lower())),), name, languages)

    people = (person("Ana", "en", "es"), person("Ben", "en", "sv"), person("Cora", "en"))
    values: dict[str, object] = {
        "id": SpaceId("demo"),
        "name": "Demo Camp",
        "timezone": "Europe/Stockholm",
        "languages": ("en", "sv"),
        "team_rooms": (ChatAddress(room),),
        "coordinators": (Identity(address("cora")),),
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
