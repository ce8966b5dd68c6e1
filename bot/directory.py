"""The spaces this process serves, with lookups by team room and by person.

Built from the configuration at start; admin commands replace a space with an updated copy.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.ids import SpaceId
from bot.domain.space import Space


class Directory:
    def __init__(self, spaces: Iterable[Space]) -> None:
        self._spaces: dict[SpaceId, Space] = {}
        self._rooms: dict[str, Space] = {}
        for space in spaces:
            self.replace(space)

    def replace(self, space: Space) -> None:
        self._spaces[space.id] = space
        self._rooms = {str(room): s for s in self._spaces.values() for room in s.team_rooms}

    @property
    def spaces(self) -> tuple[Space, ...]:
        return tuple(self._spaces.values())

    def get(self, space_id: str | None) -> Space | None:
        return self._spaces.get(SpaceId(space_id)) if space_id else None

    def by_team_room(self, chat: str) -> Space | None:
        return self._rooms.get(chat)

    def responder_spaces(self, identity: str) -> tuple[Space, ...]:
        return tuple(s for s in self._spaces.values() if s.is_responder(identity) or s.is_coordinator(identity))

    def only(self) -> Space | None:
        return next(iter(self._spaces.values())) if len(self._spaces) == 1 else None
