"""Rendering texts in a reader's language and queueing them: shared by the reporter and team sides."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.ids import CaseRef, ChatAddress, Identity, platform_of
from bot.domain.model import Lane, Person
from bot.domain.space import Space
from bot.i18n import Renderable
from bot.messages import Button, Send
from bot.ports import Translator
from bot.work import Work
from flows.common import Rows


class Speaker:
    def __init__(self, translator: Translator, platforms: tuple[str, ...]) -> None:
        self.translator = translator
        self.platforms = frozenset(platforms)

    def render(self, text: Renderable, language: str) -> str:
        return self.translator.render(text, language)

    def renderer(self, language: str) -> Callable[[Renderable], str]:
        return lambda text: self.render(text, language)

    def buttons(self, rows: Rows, language: str) -> tuple[tuple[Button, ...], ...]:
        return tuple(tuple(Button(self.render(c.label, language), c.key, c.emergency) for c in row) for row in rows)

    async def say(
        self,
        work: Work,
        chat: ChatAddress,
        text: Renderable,
        language: str,
        rows: Rows = (),
        question: int | None = None,
        lane: Lane = Lane.CONVERSATION,
        *,
        case: CaseRef | None = None,
        in_thread: bool = False,
        person: Identity | None = None,
    ) -> None:
        send = Send(
            chat,
            self.render(text, language),
            self.buttons(rows, language),
            question if rows else None,
            case=case,
            in_thread=in_thread,
            person=person,
        )
        await work.send(send, lane)

    def language_of(self, person: Person | None, space: Space) -> str:
        """The first of a person's languages that Haven speaks; the team's language otherwise."""
        for language in person.languages if person else ():
            if language in self.translator.languages:
                return language
        return space.team_language

    def addresses(self, person: Person) -> list[ChatAddress]:
        """Where a person is reached: every identity on a platform this process runs."""
        return [ChatAddress(i) for i in person.identities if platform_of(i) in self.platforms]

    async def tell(
        self,
        work: Work,
        person: Person,
        space: Space,
        text: Renderable,
        lane: Lane = Lane.CONVERSATION,
        *,
        case: CaseRef | None = None,
        rows: Rows = (),
    ) -> None:
        """A private message to a responder, on every platform where they can be reached."""
        language = self.language_of(person, space)
        for address in self.addresses(person):
            await self.say(work, address, text, language, rows, lane=lane, case=case, person=person.key)

    async def to_room(
        self, work: Work, space: Space, text: Renderable, case: CaseRef | None = None, lane: Lane = Lane.PAGE
    ) -> None:
        """A line in every team room of the space (in the case's thread when given)."""
        for room in space.team_rooms:
            if platform_of(room) in self.platforms:
                await self.say(work, room, text, space.team_language, lane=lane, case=case, in_thread=case is not None)
