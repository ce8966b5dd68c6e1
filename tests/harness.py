"""Drive people on a chat platform and read what the bot sent them, the same way on every platform.

The journey suite (tests/contract/test_journeys.py) is written against :class:`Harness`; each
transport provides one (memory here, Telegram through the fake Bot API server, Matrix through Synapse).
People are named by first name: ``rita`` reports, ``ana``/``ben`` respond, ``cora`` coordinates.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from adapters.memory.transport import MemoryTransport, Sent
from bot.bootstrap import assemble, open_store
from bot.clock import ManualClock
from bot.domain.space import Space
from bot.runtime import Haven
from bot.service import ServiceSettings
from tests.conftest import demo_space

MASTER_KEY = bytes(range(32))


class Harness(Protocol):
    """What a journey test may do and see, on any platform."""

    platform: str
    room: str
    #: Whether choices are buttons (old buttons can be pressed) rather than numbered lists.
    has_buttons: bool

    def address(self, who: str) -> str: ...
    async def say(self, who: str, text: str, *, language: str | None = "en") -> None: ...
    async def command(self, who: str, name: str, args: str = "", *, language: str | None = "en") -> None: ...
    async def send_file(self, who: str, name: str, data: bytes) -> None:
        """``who`` sends a file to the bot in their private chat."""
        ...

    async def choose(self, who: str, label: str) -> None:
        """Pick an option of the last question sent to ``who``, by its visible label."""
        ...

    async def choose_earlier(self, who: str, label: str) -> None:
        """Press a button on the question before the last one (only where ``has_buttons``)."""
        ...

    def buttons(self, who: str) -> list[str]:
        """The option labels of the last question sent to ``who``."""
        ...

    def received(self, who: str) -> list[str]:
        """Everything the bot sent to ``who`` in their private chat, oldest first."""
        ...

    def last(self, who: str) -> str: ...
    def room_texts(self) -> list[str]:
        """Everything the bot posted in the team room (cards in their current state), oldest first."""
        ...

    async def files(self, who: str) -> list[tuple[str, bytes]]:
        """Files (name, content) the bot sent to ``who`` privately, oldest first."""
        ...

    def card_texts(self) -> list[str]:
        """The current text of every case card in the team room."""
        ...

    async def press_card(self, who: str, ref: str, action: str) -> None:
        """``ack``, ``claim`` or ``join`` on the card of ``ref`` in the team room, as that platform does it."""
        ...

    async def room_command(self, who: str, name: str, args: str = "") -> None: ...
    async def settle(self) -> None:
        """Wait until the bot has handled everything sent to it and sent everything it queued."""
        ...

    async def advance(self, delta: timedelta) -> None:
        """Move the bot's clock forward and let due timers fire."""
        ...


class MemoryHarness:
    platform = "memory"
    has_buttons = True

    def __init__(self, haven: Haven, transport: MemoryTransport, space: Space, clock: ManualClock) -> None:
        self.haven = haven
        self.transport = transport
        self.space = space
        self.clock = clock
        self.room = space.team_rooms[0]

    def address(self, who: str) -> str:
        return f"memory:{who}"

    async def say(self, who: str, text: str, *, language: str | None = "en", chat: str | None = None) -> None:
        await self.transport.say(self.address(who), text, lang=language, chat=chat)
        await self.settle()

    async def command(
        self, who: str, name: str, args: str = "", *, language: str | None = "en", chat: str | None = None
    ) -> None:
        await self.say(who, f"/{name} {args}".strip(), language=language, chat=chat)

    async def choose(self, who: str, label: str) -> None:
        await self.transport.answer(self.address(who), label)
        await self.settle()

    async def send_file(self, who: str, name: str, data: bytes) -> None:
        ref = f"upload-{len(self.transport.uploads) + 1}"
        self.transport.uploads[ref] = data
        address = self.address(who)
        await self.transport.receive(
            {
                "kind": "attachment",
                "chat": address,
                "sender": address,
                "attachment_kind": "document",
                "ref": ref,
                "name": name,
                "size": len(data),
                "lang": "en",
            }
        )
        await self.settle()

    async def choose_earlier(self, who: str, label: str) -> None:
        questions = [m for m in self.messages(who) if m.buttons and m.question is not None]
        earlier = questions[-2]
        key = next(b.key for row in earlier.buttons for b in row if b.label == label)
        await self.transport.press(self.address(who), key, question=earlier.question)
        await self.settle()

    def messages(self, who: str) -> list[Sent]:
        return self.transport.messages(self.address(who))

    def received(self, who: str) -> list[str]:
        return self.transport.texts(self.address(who))

    def last(self, who: str) -> str:
        texts = self.received(who)
        return texts[-1] if texts else ""

    def buttons(self, who: str) -> list[str]:
        question = self.transport.last_question(self.address(who))
        return question.labels if question else []

    def room_texts(self) -> list[str]:
        return [m.text for m in self.transport.sent if m.to == self.room]

    async def files(self, who: str) -> list[tuple[str, bytes]]:
        return [(m.name, m.data) for m in self.messages(who) if m.kind == "file"]

    def card_texts(self) -> list[str]:
        return [sent.text for (room, _), sent in self.transport.cards.items() if room == self.room]

    async def press_card(self, who: str, ref: str, action: str) -> None:
        """Press a button (``ack``, ``claim``, ``join``) on a case's card in the team room."""
        card = self.transport.cards[(self.room, ref)]
        key = f"{action}:{ref}"
        assert key in card.keys, f"no {action} button on the card of {ref}: {card.keys}"
        await self.transport.press(self.address(who), key, chat=self.room)
        await self.settle()

    async def room_command(self, who: str, name: str, args: str = "") -> None:
        await self.say(who, f"/{name} {args}".strip(), chat=self.room)

    async def settle(self) -> None:
        await self.haven.settle()

    async def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        await self.settle()


REFERENCE = re.compile(r"[23456789A-HJ-NP-Z]{3}-[23456789A-HJ-NP-Z]{3}")


def reference_in(text: str) -> str:
    found = REFERENCE.search(text)
    assert found, f"no case reference in {text!r}"
    return found.group(0)


@asynccontextmanager
async def memory_haven(
    tmp_path: Path,
    space: Space,
    *,
    clock: ManualClock | None = None,
    settings: ServiceSettings | None = None,
    transport: MemoryTransport | None = None,
    others: tuple[Space, ...] = (),
) -> AsyncIterator[MemoryHarness]:
    clock = clock or ManualClock()
    transport = transport or MemoryTransport()
    store = open_store(tmp_path / "haven.db", MASTER_KEY, clock)
    haven = assemble([space, *others], store, [transport], service_settings=settings)
    await haven.start()
    try:
        yield MemoryHarness(haven, transport, space, clock)
    finally:
        await haven.stop(drain=0.5)


HarnessFactory = Callable[[Path], AbstractAsyncContextManager[Harness]]


def _memory(tmp_path: Path) -> AbstractAsyncContextManager[Harness]:
    return memory_haven(tmp_path, demo_space())  # type: ignore[return-value]


def _telegram(tmp_path: Path) -> AbstractAsyncContextManager[Harness]:
    module = importlib.import_module("tests.telegram_harness")  # imported late: it imports this module
    return module.telegram_haven(tmp_path)  # type: ignore[no-any-return]


def _matrix(tmp_path: Path) -> AbstractAsyncContextManager[Harness]:
    # Imported lazily: only the Matrix journeys need nio and a homeserver.
    module = importlib.import_module("tests.matrix_harness")
    return module.matrix_haven(tmp_path)  # type: ignore[no-any-return]


#: Every transport's journey harness. The contract suite runs every journey on each of them.
FACTORIES: dict[str, HarnessFactory] = {"memory": _memory, "telegram": _telegram, "matrix": _matrix}
