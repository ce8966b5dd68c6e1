"""The journey harness on Telegram: the real bot, in-process, against the fake Bot API server.

The bot is assembled as in production (``adapters.telegram.wiring.create``, a real SQLite store), with
a manual clock. People are fake Telegram users who have started the bot; the team room is a forum
supergroup where the bot is an administrator. Everything goes over real HTTP on 127.0.0.1.

Rate limits keep Telegram's shape (per private chat per second, per group per minute, overall per
second) with larger numbers, on both sides, so that the pacing is exercised and the suite stays fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from adapters.telegram import buttons, render, wiring
from adapters.telegram.transport import TelegramTransport
from bot.bootstrap import assemble, open_store
from bot.clock import ManualClock
from bot.config import TelegramSettings
from bot.domain.ids import ChatAddress
from bot.domain.space import Space
from bot.ports import RateLimits
from bot.runtime import Haven
from bot.service import ServiceSettings
from tests.conftest import demo_space
from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeBotApi, StoredMessage

TOKEN = DEFAULT_TOKEN
ROOM = -1001234567890
#: Fake Telegram user ids of the people the journeys talk about.
PEOPLE = {"rita": 5001, "ana": 2001, "ben": 2002, "cora": 2003, "mallory": 6001, "tom": 5002}
RESPONDERS = ("ana", "ben", "cora")
FAST_LIMITS = RateLimits(global_per_second=200.0, private_per_second=50.0, group_per_minute=1200.0, max_text=4096)
FAST_SERVER_LIMITS = fake.RateLimits(
    private=fake.RateLimit(50, 1.0), group=fake.RateLimit(1200, 60.0), global_=fake.RateLimit(200, 1.0)
)
MASTER_KEY = bytes(range(32))


def address(name: str) -> str:
    return f"telegram:{PEOPLE[name]}"


def telegram_space(room: int = ROOM, **overrides: object) -> Space:
    return demo_space(address=address, room=f"telegram:{room}", **overrides)


class TelegramHarness:
    platform = "telegram"
    has_buttons = True

    def __init__(
        self, haven: Haven, transport: TelegramTransport, server: FakeBotApi, space: Space, clock: ManualClock
    ) -> None:
        self.haven = haven
        self.transport = transport
        self.server = server
        self.space = space
        self.clock = clock
        self.room = space.team_rooms[0]
        self.room_id = render.chat_id(self.room)
        self.cards: dict[str, int] = {}  # case reference → card message id, refreshed by settle()
        self.people = dict(PEOPLE)

    # --- the people's side -------------------------------------------------------------------

    def address(self, who: str) -> str:
        return f"telegram:{self.user(who)}"

    def user(self, who: str) -> int:
        """Everyone has a Telegram user id; people the journeys name on the fly get a new one."""
        if who not in self.people:
            self.people[who] = max(self.people.values()) + 1
        return self.people[who]

    async def _ensure(self, who: str) -> int:
        user = self.user(who)
        if user not in self.server.users:
            await self.server.add_user(user, who.title(), language_code="en")
            self.server.users[user].started = True
        return user

    async def say(
        self,
        who: str,
        text: str,
        *,
        language: str | None = "en",
        chat: int | None = None,
        thread: int | None = None,
        reply_to: int | None = None,
    ) -> None:
        user = await self._ensure(who)
        self.server.users[user].language_code = language
        await self.server.user_sends_text(
            user, text, chat_id=chat, message_thread_id=thread, reply_to_message_id=reply_to
        )
        await self.settle()

    async def command(self, who: str, name: str, args: str = "", *, language: str | None = "en") -> None:
        await self.say(who, f"/{name} {args}".strip(), language=language)

    async def send_file(self, who: str, name: str, data: bytes) -> None:
        user = await self._ensure(who)
        await self.server.user_sends_document(user, data, file_name=name)
        await self.settle()

    async def choose(self, who: str, label: str) -> None:
        await self.press(who, self.question(who), label)

    async def choose_earlier(self, who: str, label: str) -> None:
        await self.press(who, self.question(who, -2), label)

    async def press(self, who: str, message: StoredMessage, label_or_key: str) -> None:
        """Press the button with this label (or key) on a bot message, as a client would."""
        for button in message.buttons():
            parsed = buttons.parse(button["callback_data"])
            if label_or_key in (button["text"], parsed and parsed[2]):
                await self.server.user_presses_button(self.user(who), message, button["callback_data"])
                await self.settle()
                return
        raise AssertionError(f"no button {label_or_key!r} in {[b['text'] for b in message.buttons()]}")

    async def press_card(self, who: str, ref: str, action: str) -> None:
        await self.press(who, self.card(ref), f"{action}:{ref}")

    async def room_command(self, who: str, name: str, args: str = "", *, thread: int | None = None) -> None:
        """A command in the team room, as Telegram clients send it there: ``/name@botname args``."""
        text = f"/{name}@{self.server.bot_username} {args}".strip()
        await self.say(who, text, chat=self.room_id, thread=thread)

    # --- reading -----------------------------------------------------------------------------

    def messages(self, who: str) -> list[StoredMessage]:
        """The bot's texts and files in the private chat with ``who``."""
        sent = self.server.sent_messages(self.user(who), include_deleted=False)
        return [m for m in sent if m.text is not None or "document" in m.json]

    def received(self, who: str) -> list[str]:
        return [m.text or m.json["document"].get("file_name", "") for m in self.messages(who)]

    async def files(self, who: str) -> list[tuple[str, bytes]]:
        documents = [m.json["document"] for m in self.messages(who) if "document" in m.json]
        return [(d.get("file_name", ""), self.server.file_bytes(d["file_id"])) for d in documents]

    def last(self, who: str) -> str:
        texts = self.received(who)
        return texts[-1] if texts else ""

    def question(self, who: str, index: int = -1) -> StoredMessage:
        """A message whose buttons answer a numbered question (the last one by default)."""
        questions = [m for m in self.messages(who) if m.buttons() and _question(m) is not None]
        assert len(questions) >= abs(index), f"no such question was sent to {who}"
        return questions[index]

    def buttons(self, who: str) -> list[str]:
        questions = [m for m in self.messages(who) if m.buttons() and _question(m) is not None]
        return [b["text"] for b in questions[-1].buttons()] if questions else []

    def room_messages(self) -> list[StoredMessage]:
        return [m for m in self.server.sent_messages(self.room_id, include_deleted=False) if m.text is not None]

    def room_texts(self) -> list[str]:
        return [m.text or "" for m in self.room_messages()]

    def card(self, ref: str) -> StoredMessage:
        assert ref in self.cards, f"no card for {ref}"
        return self.server.message(self.room_id, self.cards[ref])

    def card_texts(self) -> list[str]:
        return [self.card(ref).text or "" for ref in self.cards]

    # --- time and waiting --------------------------------------------------------------------

    async def settle(self) -> None:
        await self.server.wait_until(
            lambda: not self.server.pending_updates, timeout=10, what="the bot to fetch every update"
        )
        await self.haven.settle()
        async with self.haven.store.transaction() as tx:
            for case in await tx.cases(space=self.space.id):
                card = await tx.card(case.ref, ChatAddress(self.room))
                if card is not None and card.message:
                    self.cards[case.ref] = int(card.message)

    async def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        await self.settle()


def _question(message: StoredMessage) -> int | None:
    parsed = buttons.parse(message.callback_data()[0]) if message.callback_data() else None
    return parsed[0] if parsed else None


@asynccontextmanager
async def telegram_haven(
    tmp_path: Path,
    space: Space | None = None,
    *,
    more_spaces: Sequence[Space] = (),
    forum: bool = True,
    clock: ManualClock | None = None,
    settings: ServiceSettings | None = None,
    limits: RateLimits = FAST_LIMITS,
    server_limits: fake.RateLimits = FAST_SERVER_LIMITS,
    server: FakeBotApi | None = None,
) -> AsyncIterator[TelegramHarness]:
    """The bot and the fake server, with everybody in ``PEOPLE`` started and the team rooms set up
    (forums unless ``forum=False``). Pass ``server`` to keep the same fake across a restart."""
    clock = clock or ManualClock()
    async with _server(server, server_limits) as api:
        spaces = [space or telegram_space(), *more_spaces]
        rooms = [room for s in spaces for room in s.team_rooms]
        for room in rooms:
            if render.chat_id(room) not in api.groups:
                members = [PEOPLE[name] for name in (*RESPONDERS, "mallory")]
                await api.add_group(
                    render.chat_id(room), "Team", is_forum=forum, members=members, admins=[PEOPLE["cora"]]
                )
        telegram = TelegramSettings(
            TOKEN,
            base_url=api.base_url,
            base_file_url=api.base_file_url,
            poll_timeout=10,
            limits=limits,
            team_rooms=tuple(rooms),
        )
        store = open_store(tmp_path / "haven.db", MASTER_KEY, clock)
        transport, mapper = wiring.create(telegram, store.secret)
        haven = assemble(spaces, store, [transport], service_settings=settings, mappers={"telegram": mapper})
        await haven.start()
        try:
            yield TelegramHarness(haven, transport, api, spaces[0], clock)
        finally:
            await haven.stop(drain=0.5)


@asynccontextmanager
async def _server(server: FakeBotApi | None, limits: fake.RateLimits) -> AsyncIterator[FakeBotApi]:
    if server is not None:
        yield server
        return
    async with FakeBotApi(TOKEN, rate_limits=limits, seed=11) as api:
        for name, user in PEOPLE.items():
            await api.add_user(user, name.title(), language_code="en")
            api.users[user].started = True  # they have pressed Start before
        yield api
