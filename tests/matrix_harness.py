"""The journey harness on Matrix: a real Synapse, real matrix-nio clients, encrypted rooms.

One Synapse serves the whole test session (:func:`shared_synapse`); every harness makes its own users
(with a random suffix, so tests never meet) and its own team room. The bot runs in-process with a
manual clock; people are :class:`adapters.matrix.people.MatrixPerson` clients.

Waiting is exact, never a sleep: after a person sends, the harness waits until the bot's transport
has recorded that event in the inbox, lets the bot settle (inbox processed, outbox empty), then syncs
the people until they have seen every event the bot sent.
"""

from __future__ import annotations

import asyncio
import atexit
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from nio import DownloadResponse
from nio.crypto.attachments import decrypt_attachment

from adapters.matrix.homeserver import LocalSynapse
from adapters.matrix.inbound import to_facts
from adapters.matrix.people import BotWatch, MatrixPerson, Message
from adapters.matrix.transport import MatrixTransport
from bot.bootstrap import assemble, open_store
from bot.clock import ManualClock
from bot.config import MatrixSettings
from bot.domain.space import Space
from bot.i18n import Catalogs
from bot.ports import RateLimits
from bot.runtime import Haven
from tests.conftest import demo_space

MASTER_KEY = bytes(range(32))
PASSWORD = "harness-password"
#: People that exist from the start (the bot pages them); others are made when they first act.
RESPONDERS = ("ana", "ben", "cora")
OBSERVER = "cora"  # reads the team room for room_texts() and card_texts()

_SHARED: LocalSynapse | None = None


async def shared_synapse() -> LocalSynapse:
    """The session's Synapse, started on first use (relaxed rate limits, SQLite, 127.0.0.1)."""
    global _SHARED
    if _SHARED is None:
        root = Path(tempfile.mkdtemp(prefix="haven-synapse-"))
        atexit.register(shutil.rmtree, root, True)
        _SHARED = LocalSynapse(root / "hs", rate_limits="relaxed")
    if not _SHARED.running:
        await _SHARED.start()
        print(f"\nSynapse started in {_SHARED.last_start_seconds:.2f} s at {_SHARED.base_url}")
    return _SHARED


class MatrixHarness:
    platform = "matrix"
    has_buttons = False

    def __init__(self, synapse: LocalSynapse, root: Path, suffix: str) -> None:
        self.synapse = synapse
        self.root = root
        self.suffix = suffix
        self.bot_id = synapse.user_id(f"haven-{suffix}")
        self.people: dict[str, MatrixPerson] = {}
        self.team_room = ""
        self.room = ""
        self.in_team_room: set[str] = set()
        self.language_asked: set[str] = set()
        self.expected: set[str] = set()
        self.watch = BotWatch()
        self.clock = ManualClock()
        self.haven: Haven | None = None
        self.transport: MatrixTransport | None = None
        self.space: Space | None = None

    # --- set-up --------------------------------------------------------------------------------------

    def user_id(self, who: str) -> str:
        return self.synapse.user_id(f"{who}-{self.suffix}")

    def address(self, who: str) -> str:
        return f"matrix:{self.user_id(who)}"

    async def person(self, who: str) -> MatrixPerson:
        if who not in self.people:
            localpart = f"{who}-{self.suffix}"
            user_id, token, device = await self.synapse.register(localpart, PASSWORD, displayname=who.title())
            person = MatrixPerson(self.synapse.base_url, user_id, self.root / "people" / who)
            await person.restore(device, token)
            self.people[who] = person
        return self.people[who]

    async def set_up(self, **options: Any) -> None:
        """Responders, the bot's account, an encrypted team room; then the bot, with ``options`` for
        its transport."""
        await asyncio.gather(*(self.person(who) for who in RESPONDERS))
        await self.synapse.create_user(f"haven-{self.suffix}", PASSWORD, displayname="Haven")
        observer = self.people[OBSERVER]
        created = await observer.client.room_create(
            name="Response team",
            invite=[self.bot_id],
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            ],
        )
        self.team_room = str(created.room_id)
        self.room = f"matrix:{self.team_room}"
        self.in_team_room.add(OBSERVER)
        self.space = demo_space(address=self.address, room=self.room)
        await self.start_bot(**options)
        await observer.sync_until(lambda: self.has_joined(observer, self.bot_id) or None, "the bot in the team room")

    def has_joined(self, person: MatrixPerson, user_id: str) -> bool:
        room = person.client.rooms.get(self.team_room)
        return room is not None and user_id in room.users and not room.users[user_id].invited

    def settings(self) -> MatrixSettings:
        return MatrixSettings(
            homeserver=self.synapse.base_url,
            user_id=self.bot_id,
            store_path=self.root / "bot",
            password=PASSWORD,
            team_rooms=(self.team_room,),
            # The test homeserver's rate limits are relaxed; so are the bot's own.
            limits=RateLimits(None, None, None, max_text=16000),
        )

    async def start_bot(self, **options: Any) -> None:
        assert self.space is not None
        transport = MatrixTransport(self.settings(), **options)
        transport.on_sent = self.watch.on_sent
        store = open_store(self.root / "haven.db", MASTER_KEY, self.clock)
        haven = assemble([self.space], store, [transport], mappers={"matrix": to_facts})
        haven.sink = self.watch.wrap(haven.sink)  # type: ignore[assignment]
        await haven.start()
        await asyncio.wait_for(transport.ready.wait(), 20)
        self.haven, self.transport = haven, transport

    async def stop_bot(self) -> None:
        if self.haven is not None:
            await self.haven.stop(drain=0.5)
        self.haven = None

    async def close(self) -> None:
        await self.stop_bot()
        for person in self.people.values():
            await person.close()

    # --- waiting -------------------------------------------------------------------------------------

    async def settle(self) -> None:
        assert self.haven is not None
        if self.expected:
            await self.watch.until_recorded(self.expected)
            self.expected.clear()
        await self.haven.settle()
        await self.watch.until_seen(self.reader)

    def reader(self, room_id: str) -> MatrixPerson | None:
        """Who reads a room: the observer the team room, the person in it (as the bot sees it) a direct chat."""
        if room_id == self.team_room:
            return self.people[OBSERVER]
        assert self.transport is not None and self.transport.client is not None
        room = self.transport.client.rooms.get(room_id)
        return next((p for p in self.people.values() if room is not None and p.user_id in room.users), None)

    async def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        await self.settle()

    # --- acting --------------------------------------------------------------------------------------

    async def direct_chat(self, who: str) -> str:
        person = await self.person(who)
        return await person.direct_chat(self.bot_id)

    async def send_file(self, who: str, name: str, data: bytes) -> None:
        room = await self.direct_chat(who)
        self.expected.add(await self.people[who].send_file(room, name, data))
        await self.settle()

    async def say(self, who: str, text: str, *, language: str | None = "en") -> None:
        room = await self.direct_chat(who)
        self.expected.add(await self.people[who].send(room, text))
        await self.settle()
        if who not in self.language_asked and language is not None:
            self.language_asked.add(who)
            wanted = Catalogs().language_name(language)
            last = self._last_question(who)
            if last is not None and wanted in last.options:
                await self.choose(who, wanted)

    async def command(self, who: str, name: str, args: str = "", *, language: str | None = "en") -> None:
        await self.say(who, f"!{name} {args}".strip(), language=language)

    async def choose(self, who: str, label: str) -> None:
        question = self._last_question(who)
        assert question is not None, f"no question was sent to {who}"
        assert label in question.options, f"no option {label!r} in {question.options}"
        number = question.options.index(label) + 1
        self.expected.add(await self.people[who].send(question.room_id, str(number)))
        await self.settle()

    async def choose_earlier(self, who: str, label: str) -> None:
        raise NotImplementedError("numbered lists always answer the current question")

    async def join_team_room(self, who: str) -> MatrixPerson:
        person = await self.person(who)
        if who not in self.in_team_room:
            invite = await self.people[OBSERVER].client.room_invite(self.team_room, person.user_id)
            assert type(invite).__name__ == "RoomInviteResponse", invite
            await person.join(self.team_room)
            self.in_team_room.add(who)
        return person

    async def room_command(self, who: str, name: str, args: str = "", *, thread: str | None = None) -> None:
        person = await self.join_team_room(who)
        self.expected.add(await person.send(self.team_room, f"!{name} {args}".strip(), thread=thread))
        await self.settle()

    async def press_card(self, who: str, ref: str, action: str) -> None:
        """``ack`` reacts ✅ on the card; ``claim`` sends ``!claim`` in the card's thread; ``join`` a command."""
        card = next(m for m in self.room_messages() if m.event_id in self.watch.cards and ref in m.body)
        assert f"!{action} {ref}" in card.body, f"no {action} hint on the card of {ref}: {card.body!r}"
        person = await self.join_team_room(who)
        if action == "ack":
            assert "+✅" in card.body
            self.expected.add(await person.react(self.team_room, card.event_id, "✅"))
            await self.settle()
        elif action == "claim":
            await self.room_command(who, "claim", thread=card.event_id)
        else:
            await self.room_command(who, action, ref)

    # --- reading -------------------------------------------------------------------------------------

    def private_messages(self, who: str) -> list[Message]:
        person = self.people.get(who)
        if person is None:
            return []
        rooms = set(person.direct_rooms_with(self.bot_id))
        return [m for m in person.from_sender(self.bot_id) if m.room_id in rooms]

    def _last_question(self, who: str) -> Message | None:
        return next((m for m in reversed(self.private_messages(who)) if m.options), None)

    def received(self, who: str) -> list[str]:
        return [m.text for m in self.private_messages(who)]

    def last(self, who: str) -> str:
        texts = self.received(who)
        return texts[-1] if texts else ""

    def buttons(self, who: str) -> list[str]:
        question = self._last_question(who)
        return question.options if question else []

    async def files(self, who: str) -> list[tuple[str, bytes]]:
        """Download and decrypt the files the bot sent privately, as a client would."""
        person = self.people.get(who)
        if person is None:
            return []
        found = []
        for message in self.private_messages(who):
            encrypted = message.content.get("file")
            if message.content.get("msgtype") not in ("m.file", "m.image") or not isinstance(encrypted, dict):
                continue
            response = await person.client.download(mxc=encrypted["url"])
            assert isinstance(response, DownloadResponse), response
            data = decrypt_attachment(
                response.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
            )
            found.append((str(message.content.get("filename") or message.body), data))
        return found

    def room_messages(self) -> list[Message]:
        return self.people[OBSERVER].from_sender(self.bot_id, self.team_room)

    def room_texts(self) -> list[str]:
        return [m.body for m in self.room_messages()]

    def card_texts(self) -> list[str]:
        return [m.body for m in self.room_messages() if m.event_id in self.watch.cards]

    # --- checks --------------------------------------------------------------------------------------

    async def wire_types(self) -> dict[str, str]:
        """The type of every event the bot sent, as the homeserver stores it."""
        assert self.transport is not None and self.transport.client is not None
        token = self.transport.client.access_token
        types = {}
        for room_id, event_id in self.watch.sent:
            event = await self.synapse.request(
                "GET", f"/_matrix/client/v3/rooms/{room_id}/event/{event_id}", access_token=token
            )
            types[event_id] = str(event["type"])
        return types


@asynccontextmanager
async def matrix_haven(tmp_path: Path, **options: Any) -> AsyncIterator[MatrixHarness]:
    synapse = await shared_synapse()
    harness = MatrixHarness(synapse, tmp_path, secrets.token_hex(3))
    try:
        await harness.set_up(**options)
        yield harness
        # Every event the bot sent into these encrypted rooms is encrypted on the wire.
        types = await harness.wire_types()
        assert set(types.values()) <= {"m.room.encrypted"}, types
    finally:
        await harness.close()
