"""People who talk to the bot through real, encrypting matrix-nio clients, the way Element does.

Used by ``haven demo --walkthrough`` and by the test suite's Matrix harness: a person logs in, opens
an encrypted direct chat with the bot, writes, reacts (encrypted, like Element), accepts invites, and
reads what arrived, with edits applied and numbered options separated from the text. A
:class:`BotWatch` tells the driver when the bot is done answering, so nobody waits by sleeping.

The nio recipe and its pitfalls are documented in tests/e2e/test_local_synapse.py: a plain ``sync``
does not publish keys (``sync`` here does what one ``sync_forever`` round does), and every device is
unverified, so messages are sent with ``ignore_unverified_devices``.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomPreset,
    SyncResponse,
    UploadResponse,
)

from adapters.matrix.render import ENCRYPTION_STATE, read_choices, thread_relation
from adapters.matrix.transport import after_sync
from bot.messages import Outgoing, PostCard
from bot.ports import InboundSink

T = TypeVar("T")

UNREADABLE: Final = "<could not decrypt>"


class PersonError(RuntimeError):
    """The homeserver refused something a person tried, or an expected message did not come."""


@dataclass(slots=True)
class Message:
    """A message as the person sees it: the current text (edits applied) and its numbered options."""

    event_id: str
    room_id: str
    sender: str
    body: str
    thread: str | None = None
    edits: list[str] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> str:
        return read_choices(self.body)[0]

    @property
    def options(self) -> list[str]:
        return read_choices(self.body)[1]


class MatrixPerson:
    """One person with one device, keys in ``store_path``."""

    def __init__(self, homeserver: str, user_id: str, store_path: Path, *, accept_invites: bool = True) -> None:
        store_path.mkdir(parents=True, exist_ok=True)
        self.user_id = user_id
        self.accept_invites = accept_invites
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store_path),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        #: Every message event seen, in arrival order (edits are applied to their target instead).
        self.messages: list[Message] = []
        self.seen: set[str] = set()
        self._by_id: dict[str, Message] = {}

    async def log_in(self, password: str, device_name: str = "Haven walkthrough") -> None:
        response = await self.client.login(password, device_name=device_name)
        if not isinstance(response, LoginResponse):
            raise PersonError(f"{self.user_id} could not log in: {response}")
        await self.sync()

    async def restore(self, device_id: str, access_token: str) -> None:
        """Use a device logged in elsewhere (e.g. by shared-secret registration)."""
        self.client.restore_login(self.user_id, device_id, access_token)
        await self.sync()

    async def close(self) -> None:
        await self.client.close()

    # --- receiving ---------------------------------------------------------------------------------

    async def sync(self, timeout_ms: int = 0) -> SyncResponse:
        """One ``sync_forever`` round: sync, publish keys, learn devices, claim keys, send to-device."""
        client = self.client
        response = await client.sync(timeout=timeout_ms, sync_filter={"room": {"timeline": {"limit": 100}}})
        if not isinstance(response, SyncResponse):
            raise PersonError(f"{self.user_id}: sync failed: {response}")
        await after_sync(client)
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                self._see(room_id, event)
        if self.accept_invites:
            for room_id in response.rooms.invite:
                joined = await client.join(room_id)
                if not isinstance(joined, JoinResponse):
                    raise PersonError(f"{self.user_id} could not join a room: {joined}")
        return response

    def _see(self, room_id: str, event: Any) -> None:
        source = getattr(event, "source", {})
        event_id = source.get("event_id")
        if not isinstance(event_id, str):
            return
        self.seen.add(event_id)
        kind = source.get("type")
        if isinstance(event, MegolmEvent):
            body, content = UNREADABLE, {}
        elif kind == "m.room.message":
            content = source.get("content", {})
            body = content.get("body", "")
        else:
            return
        relates = content.get("m.relates_to", {})
        if relates.get("rel_type") == "m.replace":
            target = self._by_id.get(relates.get("event_id", ""))
            if target is not None:
                target.edits.append(target.body)
                target.body = content.get("m.new_content", {}).get("body", target.body)
            return
        thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
        message = Message(event_id, room_id, str(source.get("sender", "")), str(body), thread, content=content)
        self.messages.append(message)
        self._by_id[event_id] = message

    async def sync_until(self, found: Callable[[], T | None], what: str, within: float = 15.0) -> T:
        """Sync (long-polling) until ``found()`` returns something."""
        deadline = time.monotonic() + within
        while True:
            result = found()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise PersonError(f"{self.user_id}: timed out waiting for {what}")
            await self.sync(timeout_ms=300)

    def from_sender(self, sender: str, room_id: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.sender == sender and (room_id is None or m.room_id == room_id)]

    def direct_rooms_with(self, other: str) -> list[str]:
        """Unnamed rooms where only this person and ``other`` are (joined or invited): a direct chat,
        not a named group room that happens to have only two members so far."""
        return [
            room_id
            for room_id, room in self.client.rooms.items()
            if set(room.users) == {self.user_id, other} and room.encrypted and room.is_group
        ]

    # --- sending -----------------------------------------------------------------------------------

    async def open_direct_chat(self, other: str) -> str:
        """Create an encrypted direct chat with ``other``, the way Element does (``is_direct``, m.direct)."""
        created = await self.client.room_create(
            is_direct=True, preset=RoomPreset.trusted_private_chat, invite=[other], initial_state=[ENCRYPTION_STATE]
        )
        if not isinstance(created, RoomCreateResponse):
            raise PersonError(f"{self.user_id} could not create a direct chat: {created}")
        room_id = str(created.room_id)
        await self._api("PUT", f"/user/{self._quoted(self.user_id)}/account_data/m.direct", {other: [room_id]})
        await self.sync_until(lambda: self.client.rooms.get(room_id), "the new direct chat")
        return room_id

    async def direct_chat(self, other: str) -> str:
        rooms = self.direct_rooms_with(other)
        return rooms[0] if rooms else await self.open_direct_chat(other)

    async def join(self, room_id: str) -> None:
        joined = await self.client.join(room_id)
        if not isinstance(joined, JoinResponse):
            raise PersonError(f"{self.user_id} could not join a room: {joined}")
        await self.sync_until(lambda: self.client.rooms.get(room_id), "the joined room")

    async def send(self, room_id: str, text: str, *, thread: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if thread is not None:
            content["m.relates_to"] = thread_relation(thread)
        return await self.send_event(room_id, "m.room.message", content)

    async def send_file(self, room_id: str, name: str, data: bytes, mime: str = "text/plain") -> str:
        """Upload a file encrypted, as Element does in an encrypted room, and send it."""
        uploaded, keys = await self.client.upload(
            lambda *_: io.BytesIO(data), content_type=mime, filename=name, encrypt=True, filesize=len(data)
        )
        if not isinstance(uploaded, UploadResponse) or keys is None:
            raise PersonError(f"{self.user_id} could not upload a file: {uploaded}")
        encrypted = {**keys, "url": uploaded.content_uri}
        content = {
            "msgtype": "m.file",
            "body": name,
            "filename": name,
            "info": {"size": len(data), "mimetype": mime},
            "file": encrypted,
        }
        return await self.send_event(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content)

    async def send_event(self, room_id: str, kind: str, content: dict[str, Any]) -> str:
        """Send an event, encrypted in an encrypted room (reactions too, unlike nio's ``room_send``)."""
        await self.sync()  # the latest members: whom to share the room key with
        client = self.client
        room = client.rooms[room_id]
        if room.encrypted:
            if not room.members_synced:
                await client.joined_members(room_id)
            if client.should_query_keys:
                await client.keys_query()
            if client.olm.should_share_group_session(room_id):
                await client.share_group_session(room_id, ignore_unverified_devices=True)
            kind, content = client.encrypt(room_id, kind, content)
        path = f"/rooms/{self._quoted(room_id)}/send/{kind}/{uuid.uuid4().hex}"
        answer = await self._api("PUT", path, content)
        event_id = answer.get("event_id")
        if not isinstance(event_id, str):
            raise PersonError(f"{self.user_id} could not send: {answer}")
        return event_id

    async def send_plaintext(self, room_id: str, text: str) -> str:
        """A plaintext message even in an encrypted room (what a broken or forged client would send)."""
        path = f"/rooms/{self._quoted(room_id)}/send/m.room.message/{uuid.uuid4().hex}"
        answer = await self._api("PUT", path, {"msgtype": "m.text", "body": text})
        return str(answer["event_id"])

    @staticmethod
    def _quoted(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    async def _api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.client.access_token}", "Content-Type": "application/json"}
        response = await self.client.send(method, "/_matrix/client/v3" + path, json.dumps(body), headers)
        try:
            data = await response.json(content_type=None)
        finally:
            response.release()
        if response.status >= 400 or not isinstance(data, dict):
            raise PersonError(f"{method} {path.split('/')[1]}: HTTP {response.status}")
        return data


class _RecordingSink:
    def __init__(self, inner: InboundSink, watch: BotWatch) -> None:
        self.inner = inner
        self.watch = watch

    async def record(
        self, source: str, items: Sequence[tuple[str, Mapping[str, Any]]], cursor: tuple[str, str] | None = None
    ) -> int:
        added = await self.inner.record(source, items, cursor)
        await self.watch.recorded_now(external_id for external_id, _ in items)
        return added

    async def recall(self, name: str) -> str | None:
        return await self.inner.recall(name)

    async def remember(self, name: str, value: str) -> None:
        await self.inner.remember(name, value)


class BotWatch:
    """What a running bot recorded and sent, so that whoever drives people waits exactly as long as
    the bot needs: until it recorded what a person sent, then until people saw everything it sent."""

    def __init__(self) -> None:
        self.recorded: set[str] = set()
        #: (room, event id) of everything the bot sent, in order; which of them were cards.
        self.sent: list[tuple[str, str]] = []
        self.cards: set[str] = set()
        self._changed = asyncio.Condition()

    def wrap(self, sink: InboundSink) -> InboundSink:
        """A sink that records into ``sink`` and tells this watch."""
        return _RecordingSink(sink, self)

    async def recorded_now(self, ids: Iterable[str]) -> None:
        async with self._changed:
            self.recorded.update(ids)
            self._changed.notify_all()

    def on_sent(self, item: Outgoing, room_id: str, event_ids: list[str]) -> None:
        """For ``MatrixTransport.on_sent``."""
        self.sent.extend((room_id, event_id) for event_id in event_ids)
        if isinstance(item.effect, PostCard):
            self.cards.add(event_ids[0])

    async def until_recorded(self, ids: set[str], within: float = 15.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: ids <= self.recorded)

    async def until_seen(self, reader: Callable[[str], MatrixPerson | None], within: float = 15.0) -> None:
        """Sync people until the reader of each room (None: nobody we play) saw everything the bot sent
        there. Syncing accepts invitations, so a new direct chat gets read too."""
        deadline = time.monotonic() + within
        while True:
            readers = {reader(room) for room, _ in self.sent}
            waiting = [r for r in readers if r is not None and not self._seen_all(r, reader)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise PersonError(f"{len(waiting)} person(s) never saw some of the bot's messages")
            await asyncio.gather(*(person.sync(timeout_ms=200) for person in waiting))

    def _seen_all(self, person: MatrixPerson, reader: Callable[[str], MatrixPerson | None]) -> bool:
        return all(event in person.seen for room, event in self.sent if reader(room) is person)
