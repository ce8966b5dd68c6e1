"""The Matrix transport: matrix-nio with end-to-end encryption (I/O only; mapping lives next door).

Start-up. The device (id and access token) is kept in ``store_path/credentials.json`` next to nio's
key store, and restored with ``restore_login``: the bot logs in with its password only once, on its
first start (homeservers rate-limit logins, and every login is a new device that peers must learn).
It refuses to start without working encryption.

Receiving. One sync loop. Each response is handled by nio first (to-device keys, decryption, room
state), then the transport answers invites (direct chats from anyone and the configured team rooms
are joined, other invites rejected), and records the room events in the inbox together with the new
sync token, in one transaction: a crash loses nothing and replays nothing. nio never stores the sync
token itself. The first sync after a start asks for the full state (nio keeps room state in memory
only); a gap in a room's timeline (more events than one sync returns) is filled from ``/messages``.

Undecryptable messages. A message whose keys have not arrived is kept aside (persisted), a key
request goes out, and decryption is retried after every sync: the keys usually arrive a little
later. After ``undecryptable_after`` seconds the sender's direct chat gets an ``Undecryptable`` fact
and the core asks them to send it again.

Sending. Effects are rendered by :mod:`adapters.matrix.render`. A person address
(``matrix:@ana:server``) is reached in their direct chat with the bot, created (encrypted, like
Element does) when there is none, and recorded in the ``m.direct`` account data. Room keys are
shared with every device of the room's members without interactive verification (the device-trust
policy is in docs/matrix.md). Transaction ids are derived from the outbox item, so a repeated send
after an ambiguous failure is deduplicated by the homeserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DirectRoomsResponse,
    DownloadResponse,
    InviteMemberEvent,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    MessageDirection,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.crypto.attachments import decrypt_attachment

from adapters.matrix import inbound, render
from adapters.matrix.homeserver import override_ratelimit_curl, override_ratelimit_path, write_private
from bot.config import MatrixSettings
from bot.domain.ids import ChatAddress, Platform, native_id
from bot.messages import (
    Ambiguous,
    Delivered,
    DeliveryResult,
    EditCard,
    Failed,
    Outgoing,
    PostCard,
    RetryLater,
    Send,
    SendFile,
    Unreachable,
)
from bot.ports import InboundSink

log = logging.getLogger(__name__)

SOURCE: Final = "matrix"
CURSOR: Final = "matrix.sync_token"
PENDING_FILE: Final = "undecrypted.json"
TXN_PREFIX: Final = "matrix.txn_prefix"
#: Events per room and sync; a longer gap is fetched from /messages.
TIMELINE_LIMIT: Final = 50
GAP_PAGES: Final = 20


class MatrixStartError(RuntimeError):
    """The bot cannot run on Matrix with this configuration (the message says how to fix it)."""


class _NotYet(Exception):
    """The room is not usable yet (not synced); try again later."""


class _NoRoom(Exception):
    """There is no room to deliver to (not a member, unknown person)."""


class _Refused(Exception):
    """The homeserver refused a request that leads up to the send."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(str(result))
        self.result = result


def _refusal(errcode: str | None, retry_after_ms: int | None) -> DeliveryResult:
    """An error answer of the homeserver as a delivery result."""
    if errcode == "M_LIMIT_EXCEEDED":
        return RetryLater(max(0.1, (retry_after_ms or 5000) / 1000))
    if errcode in ("M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_INVALID_PARAM", "M_UNKNOWN_ROOM"):
        return Unreachable(errcode)
    return Failed(errcode or "homeserver error")


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


async def after_sync(client: AsyncClient) -> None:
    """What ``sync_forever`` does after each sync: publish our keys, learn others', send to-device."""
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    await client.send_to_device_messages()


class MatrixTransport:
    platform: Platform = Platform("matrix")

    def __init__(
        self,
        settings: MatrixSettings,
        *,
        undecryptable_after: float = 60.0,
        sync_timeout: float = 30.0,
        request_timeout: float = 30.0,
        ready_timeout: float = 20.0,
        timeline_limit: int = TIMELINE_LIMIT,
    ) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.last_contact: datetime | None = None
        self.team_rooms = frozenset(settings.team_rooms)
        self.undecryptable_after = undecryptable_after
        self.sync_timeout = sync_timeout
        self.request_timeout = request_timeout
        self.ready_timeout = ready_timeout
        self.timeline_limit = timeline_limit
        #: Called with (item, room id, event ids) after each delivery (the tests watch it).
        self.on_sent: Callable[[Outgoing, str, list[str]], None] | None = None
        #: Set once the first sync is done: rooms are known and sending can start.
        self.ready = asyncio.Event()
        self.client: AsyncClient | None = None
        self.sink: InboundSink | None = None
        self._token: str | None = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._direct: dict[str, list[str]] = {}
        self._txn_prefix = ""
        self._synced = asyncio.Condition()
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._delivering = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self.settings.user_id

    async def start(self, sink: InboundSink) -> None:
        if not ENCRYPTION_ENABLED:
            raise MatrixStartError(
                "end-to-end encryption is not available: install matrix-nio with its e2e extra "
                "(pip install 'matrix-nio[e2e]'); Haven never runs on Matrix without it"
            )
        self.sink = sink
        self._stopped = False
        self.ready.clear()
        store = _private_dir(Path(self.settings.store_path))
        self.client = AsyncClient(
            self.settings.homeserver,
            self.user_id,
            store_path=str(store),
            config=AsyncClientConfig(
                encryption_enabled=True,
                store_sync_tokens=False,  # the sync token is saved with the inbox, not by nio
                max_limit_exceeded=0,  # 429 comes back to us (RetryLater), nio does not sleep on it
                max_timeouts=0,  # so does a timeout (Ambiguous or Failed)
                request_timeout=self.request_timeout,
            ),
        )
        await self._log_in(store)
        if self.client.olm is None:
            raise MatrixStartError(f"the encryption store in {store} could not be opened")
        self._token = await sink.recall(CURSOR)
        self._pending = _read_json(store / PENDING_FILE)
        prefix = await sink.recall(TXN_PREFIX)
        if prefix is None:
            prefix = "haven" + secrets.token_hex(4)
            await sink.remember(TXN_PREFIX, prefix)
        self._txn_prefix = prefix
        self._task = asyncio.create_task(self._run(), name="matrix-sync")

    async def _log_in(self, store: Path) -> None:
        """Restore the saved device, or log in once and save it. Never a second device per start."""
        assert self.client is not None
        settings = self.settings
        path = store / "credentials.json"
        saved = _read_json(path)
        if saved.get("user_id") == self.user_id and saved.get("homeserver") == settings.homeserver:
            if (store / f"{self.user_id}_{saved['device_id']}.db").is_file():
                self.client.restore_login(self.user_id, saved["device_id"], saved["access_token"])
                log.info("matrix: restored the saved device")
                return
            if not settings.password:
                raise MatrixStartError(
                    f"the encryption keys of the saved device are missing from {store}; restore them from a "
                    "backup, or configure the password so that the bot can log in as a new device"
                )
            log.warning("matrix: the saved device's keys are missing; logging in as a new device")
        if settings.password:
            response = await self.client.login(settings.password, device_name=settings.device_name)
            if not isinstance(response, LoginResponse):
                raise MatrixStartError(f"logging in to {settings.homeserver} failed: {response.status_code}")
            device, token = response.device_id, response.access_token
            log.info("matrix: logged in as a new device (once; it is restored at the next start)")
        elif settings.access_token:
            self.client.access_token = settings.access_token
            who = await self.client.whoami()
            if not isinstance(who, WhoamiResponse) or who.user_id != self.user_id or not who.device_id:
                raise MatrixStartError("the access token is not valid for the configured user_id")
            device, token = who.device_id, settings.access_token
            self.client.restore_login(self.user_id, device, token)
        else:
            raise MatrixStartError("neither a password nor an access token is configured")
        write_private(
            path,
            json.dumps(
                {"homeserver": settings.homeserver, "user_id": self.user_id, "device_id": device, "access_token": token}
            ),
        )

    async def stop(self) -> None:
        """Stop receiving. Sending still works (the outbox drains after this) on a fresh connection."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.client is not None:
            await self.client.close()
        self.sink = None

    # --- receiving ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self.client is not None
        failures = 0
        first = True
        while True:
            try:
                await self._sync_once(full_state=first)
                if first:
                    await self._after_first_sync()
                    first = False
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                pause = min(60.0, 0.5 * 2 ** min(failures, 7))
                log.warning("matrix: sync failed (%s); retrying in %.1f s", type(error).__name__, pause)
                await asyncio.sleep(pause)

    def _sync_wait(self) -> float:
        if not self._pending:
            return self.sync_timeout
        earliest = min(float(p["first_seen"]) for p in self._pending.values()) + self.undecryptable_after
        return max(0.5, min(self.sync_timeout, earliest - time.time()))

    async def _sync_once(self, *, full_state: bool = False) -> None:
        client = self.client
        assert client is not None and self.sink is not None
        since = self._token
        response = await client.sync(
            timeout=int(self._sync_wait() * 1000),
            since=since,
            full_state=full_state or None,
            sync_filter={"room": {"timeline": {"limit": self.timeline_limit}}},
        )
        if not isinstance(response, SyncResponse):
            if response.status_code == "M_UNKNOWN_TOKEN":
                log.error(
                    "matrix: the homeserver rejected the access token; delete credentials.json in store_path "
                    "to log in again (with the password)"
                )
            raise ConnectionError(f"sync failed: {response.status_code}")
        await self._housekeeping()
        await self._answer_invites(response)
        items: list[tuple[str, dict[str, Any]]] = []
        before = dict(self._pending)
        if since is not None:  # the very first sync of a new device only learns where "now" is
            for room_id, info in response.rooms.join.items():
                items.extend(await self._room_events(room_id, info, since))
        items.extend(await self._retry_undecrypted())
        if self._pending.keys() - before.keys():
            self._save_pending(before | self._pending)
        await self.sink.record(SOURCE, items, cursor=(CURSOR, response.next_batch))
        if self._pending.keys() != before.keys():
            self._save_pending(self._pending)
        self._token = response.next_batch
        self.last_contact = datetime.now(UTC)
        async with self._synced:
            self._synced.notify_all()

    def _save_pending(self, pending: Mapping[str, Any]) -> None:
        """Keep the messages set aside in the store directory (which already names rooms and people),
        written before the sync token moves past them."""
        path = Path(self.settings.store_path) / PENDING_FILE
        write_private(path.with_suffix(".tmp"), json.dumps(pending))
        os.replace(path.with_suffix(".tmp"), path)

    async def _housekeeping(self) -> None:
        assert self.client is not None
        await after_sync(self.client)

    async def _after_first_sync(self) -> None:
        client = self.client
        assert client is not None
        direct = await client.list_direct_rooms()
        if isinstance(direct, DirectRoomsResponse):
            self._direct = {user: list(rooms) for user, rooms in direct.rooms.items() if isinstance(rooms, list)}
        for room_id in self.team_rooms - set(client.rooms):
            joined = await client.join(room_id)
            if not isinstance(joined, JoinResponse):
                log.warning("matrix: cannot join a configured team room (%s); invite the bot", joined.status_code)
        await self._check_rate_limit()
        self.ready.set()
        log.info("matrix: connected; receiving and sending")

    async def _check_rate_limit(self) -> None:
        """Say whether the homeserver's message rate limit applies to the bot, and how to lift it."""
        curl = override_ratelimit_curl(self.settings.homeserver, self.user_id)
        try:
            status, body = await self._api("GET", override_ratelimit_path(self.user_id))
        except (aiohttp.ClientError, TimeoutError):
            status, body = 0, {}
        if status == 200 and body.get("messages_per_second") == 0:
            log.info("matrix: the bot is exempt from the homeserver's message rate limit")
            return
        if status == 200:
            why = "the bot is not exempt from the homeserver's message rate limit"
        else:
            why = "cannot tell whether the bot is exempt from the homeserver's rate limit (that needs admin rights)"
        log.warning("matrix: %s; emergencies may be slowed down. A homeserver admin lifts it with: %s", why, curl)

    async def _api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """A plain client-server call for what nio has no method for."""
        client = self.client
        assert client is not None
        headers = {"Authorization": f"Bearer {client.access_token}", "Content-Type": "application/json"}
        response = await client.send(method, path, json.dumps(body) if body is not None else None, headers)
        try:
            data = await response.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            data = {}
        finally:
            response.release()
        return response.status, data if isinstance(data, dict) else {}

    async def _answer_invites(self, response: SyncResponse) -> None:
        """Join direct chats and team rooms; reject every other invite."""
        client = self.client
        assert client is not None
        for room_id, info in response.rooms.invite.items():
            inviter, direct = None, False
            for event in info.invite_state:
                # nio moves an invite's content out of ``source`` into ``content``.
                if isinstance(event, InviteMemberEvent) and event.state_key == self.user_id:
                    inviter = event.sender
                    direct = bool(event.content.get("is_direct"))
            if room_id in self.team_rooms or (direct and isinstance(inviter, str)):
                joined = await client.join(room_id)
                if not isinstance(joined, JoinResponse):
                    log.warning("matrix: joining a room failed (%s)", joined.status_code)
                    continue
                if room_id not in self.team_rooms and isinstance(inviter, str):
                    await self._remember_direct(inviter, room_id)
                log.info("matrix: joined a %s", "team room" if room_id in self.team_rooms else "direct chat")
            else:
                await client.room_leave(room_id)
                log.info("matrix: rejected an invite to a group room that is not a team room")

    async def _remember_direct(self, user_id: str, room_id: str) -> None:
        rooms = self._direct.setdefault(user_id, [])
        if room_id in rooms:
            return
        rooms.append(room_id)
        path = f"/_matrix/client/v3/user/{urllib.parse.quote(self.user_id, safe='')}/account_data/m.direct"
        try:
            status, _ = await self._api("PUT", path, self._direct)
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        if status != 200:
            log.warning("matrix: could not record a direct chat in m.direct (HTTP %s)", status)

    def _is_private(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id) if self.client else None
        return room is not None and room_id not in self.team_rooms and len(room.users) <= 2

    async def _room_events(self, room_id: str, info: Any, since: str) -> list[tuple[str, dict[str, Any]]]:
        client = self.client
        assert client is not None
        events = list(info.timeline.events)
        starts = any(getattr(e, "source", {}).get("type") == "m.room.create" for e in events)
        if info.timeline.limited and info.timeline.prev_batch and not starts:
            joined_now = any(
                e.source.get("type") == "m.room.member"
                and e.source.get("state_key") == self.user_id
                and e.source.get("content", {}).get("membership") == "join"
                for e in events
            )
            events = await self._gap(room_id, info.timeline.prev_batch, None if joined_now else since) + events
        items = []
        for event in events:
            source = getattr(event, "source", None)
            if not isinstance(source, dict) or source.get("sender") == self.user_id:
                continue
            if isinstance(event, MegolmEvent):
                await self._keep_undecrypted(room_id, event)
                continue
            payload = self._payload(room_id, source, decrypted=bool(getattr(event, "decrypted", False)))
            if source.get("room_id", room_id) != room_id:
                continue  # an encrypted payload replayed from another room
            if inbound.worth_recording(payload):
                items.append((str(source["event_id"]), payload))
        return items

    async def _gap(self, room_id: str, start: str, end: str | None) -> list[Any]:
        """Events a limited timeline left out, oldest first (``end``: stop at our last sync)."""
        client = self.client
        assert client is not None
        found: list[Any] = []
        for _ in range(GAP_PAGES):
            page = await client.room_messages(room_id, start=start, end=end, direction=MessageDirection.back, limit=100)
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            found.extend(page.chunk)
            if any(getattr(e, "source", {}).get("type") == "m.room.create" for e in page.chunk):
                break
            if not page.end or page.end == start:
                break
            start = page.end
        log.info("matrix: filled a gap of %d events in a room's timeline", len(found))
        return list(reversed(found))

    def _payload(self, room_id: str, event: Mapping[str, Any], *, decrypted: bool) -> dict[str, Any]:
        room = self.client.rooms.get(room_id) if self.client else None
        sender = event.get("sender")
        user = room.users.get(sender) if room is not None and isinstance(sender, str) else None
        return {
            "room": room_id,
            "private": self._is_private(room_id),
            "encrypted_room": bool(room is not None and room.encrypted),
            "decrypted": decrypted,
            "sender_name": (user.display_name or "") if user is not None else "",
            "event": {k: event[k] for k in ("type", "sender", "event_id", "content", "origin_server_ts") if k in event},
        }

    async def _keep_undecrypted(self, room_id: str, event: Any) -> None:
        """Set a message aside until its keys arrive, and ask our other devices for them."""
        client = self.client
        assert client is not None
        if event.event_id in self._pending:
            return
        self._pending[event.event_id] = {"room": room_id, "event": event.source, "first_seen": time.time()}
        event.room_id = room_id
        # Best effort: LocalProtocolError means we already asked for this session.
        with contextlib.suppress(LocalProtocolError, aiohttp.ClientError, TimeoutError):
            await client.request_room_key(event)
        log.info("matrix: a message could not be decrypted yet; asked for its keys")

    async def _retry_undecrypted(self) -> list[tuple[str, dict[str, Any]]]:
        """Decrypt what can be decrypted now; give up on what waited too long."""
        client = self.client
        assert client is not None
        items: list[tuple[str, dict[str, Any]]] = []
        for event_id, kept in list(self._pending.items()):
            room_id = kept["room"]
            event = MegolmEvent.from_dict(kept["event"])
            decrypted = None
            if isinstance(event, MegolmEvent):
                event.room_id = room_id
                with contextlib.suppress(Exception):
                    decrypted = client.decrypt_event(event)
            source = getattr(decrypted, "source", None)
            if isinstance(source, dict) and getattr(decrypted, "decrypted", False):
                del self._pending[event_id]
                payload = self._payload(room_id, {**source, "event_id": event_id}, decrypted=True)
                if source.get("room_id", room_id) == room_id and inbound.worth_recording(payload):
                    items.append((event_id, payload))
                log.info("matrix: a message was decrypted once its keys arrived")
            elif time.time() - float(kept["first_seen"]) >= self.undecryptable_after:
                del self._pending[event_id]
                envelope = self._payload(room_id, kept["event"], decrypted=False)
                envelope["event"] = {k: kept["event"].get(k) for k in ("type", "sender", "event_id")}
                payload = {**envelope, "undecryptable": True}
                if inbound.worth_recording(payload):
                    items.append((event_id, payload))
                log.warning("matrix: a message stayed undecryptable; its sender is asked to send it again")
        return items

    # --- sending -----------------------------------------------------------------------------------

    def is_group(self, chat: ChatAddress) -> bool:
        target = native_id(chat)
        if target.startswith("@"):
            return False
        if target in self.team_rooms:
            return True
        room = self.client.rooms.get(target) if self.client else None
        return room is not None and len(room.users) > 2

    async def fetch(self, ref: str, limit: int) -> bytes:
        """Download (and decrypt) a file someone sent; ``ref`` is the event's ``file`` object or URL."""
        assert self.client is not None
        encrypted = json.loads(ref) if ref.startswith("{") else None
        url = encrypted["url"] if encrypted else ref
        response = await self.client.download(mxc=url)
        if not isinstance(response, DownloadResponse):
            raise ValueError(f"the homeserver did not return the file ({getattr(response, 'status_code', '?')})")
        if len(response.body) > limit:
            raise ValueError("the file is too large")
        if encrypted is None:
            return bytes(response.body)
        data = decrypt_attachment(response.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"])
        return bytes(data)

    async def deliver(self, item: Outgoing) -> DeliveryResult:
        try:
            await asyncio.wait_for(self.ready.wait(), self.ready_timeout)
        except TimeoutError:
            return Failed("not connected to the homeserver yet")
        self._delivering += 1
        try:
            room_id = await self._room_for(native_id(item.effect.to))
            lock = self._room_locks.setdefault(room_id, asyncio.Lock())
            async with lock:
                return await self._send(item, room_id)
        except _Refused as refused:
            return refused.result
        except _NoRoom as error:
            return Unreachable(str(error))
        except _NotYet as error:
            return Failed(str(error))
        except (aiohttp.ClientError, TimeoutError) as error:  # before anything was sent
            return Failed(f"homeserver unreachable: {type(error).__name__}")
        finally:
            self._delivering -= 1
            if self._stopped and not self._delivering and self.client is not None:
                await self.client.close()  # draining after stop(): leave no connection open

    async def _room_for(self, target: str) -> str:
        """The room to send to: the room itself, or a person's direct chat with the bot."""
        client = self.client
        assert client is not None
        if target.startswith("!"):
            room = client.rooms.get(target)
            if room is None and target in self.team_rooms:
                raise _NotYet("the bot has not joined the team room yet")
            if room is None:
                raise _NoRoom("the bot is not in this room")
            if target not in self.team_rooms and len(room.users) < 2:
                raise _NoRoom("everybody else left this chat")
            return target
        found = self._direct_room(target)
        if found is not None:
            return found
        created = await client.room_create(
            is_direct=True,
            preset=RoomPreset.trusted_private_chat,
            invite=[target],
            initial_state=[render.ENCRYPTION_STATE],
        )
        if not isinstance(created, RoomCreateResponse):
            raise _Refused(_refusal(created.status_code, created.retry_after_ms))
        await self._remember_direct(target, created.room_id)
        await self._until_synced(created.room_id, target)
        return str(created.room_id)

    def _direct_room(self, user_id: str) -> str | None:
        """A room where only this person and the bot are (joined or invited); recorded ones first."""
        client = self.client
        assert client is not None
        recorded = list(reversed(self._direct.get(user_id, [])))
        for room_id in [*recorded, *(r for r in client.rooms if r not in recorded)]:
            room = client.rooms.get(room_id)
            if room is None or room_id in self.team_rooms:
                continue
            if user_id in room.users and len(room.users) == 2 and room.encrypted:
                return str(room_id)
        return None

    async def _until_synced(self, room_id: str, invited: str, within: float = 10.0) -> None:
        """Wait until the sync has brought a new room's encryption and the invitation: the room key
        must go to the invited person's devices with the first message."""
        client = self.client
        assert client is not None

        def known() -> bool:
            room = client.rooms.get(room_id)
            return room is not None and room.encrypted and invited in room.users

        try:
            async with asyncio.timeout(within), self._synced:
                await self._synced.wait_for(known)
        except TimeoutError:
            raise _NotYet("the new direct chat is not synced yet") from None

    async def _prepare(self, room_id: str) -> None:
        """Make sure every member's devices have the room key before anything is sent (nothing leaves)."""
        client = self.client
        assert client is not None and client.olm is not None
        room = client.rooms[room_id]
        if not room.encrypted:
            return
        if not room.members_synced:
            members = await client.joined_members(room_id)
            if not room.members_synced:
                raise _Refused(_refusal(getattr(members, "status_code", None), None))
        if client.should_query_keys:
            await client.keys_query()
        if client.olm.should_share_group_session(room_id):
            await client.share_group_session(room_id, ignore_unverified_devices=True)

    async def _contents(self, item: Outgoing, room_id: str) -> list[dict[str, Any]]:
        effect = item.effect
        if isinstance(effect, PostCard):
            return [render.card(effect)]
        if isinstance(effect, EditCard):
            if not item.card_ref:
                raise _NoRoom("there is no card to edit")
            return [render.edit(effect, item.card_ref)]
        if isinstance(effect, Send):
            return render.message(effect, item.thread_ref if effect.in_thread and item.thread_ref else None)
        assert isinstance(effect, SendFile)
        return [await self._upload(effect, room_id)]

    async def _upload(self, effect: SendFile, room_id: str) -> dict[str, Any]:
        client = self.client
        assert client is not None
        encrypted = client.rooms[room_id].encrypted
        uploaded, keys = await client.upload(
            io.BytesIO(effect.data),
            content_type="application/octet-stream" if encrypted else effect.mime,
            filename=None if encrypted else effect.name,
            encrypt=encrypted,
            filesize=len(effect.data),
        )
        if not isinstance(uploaded, UploadResponse):
            raise _Refused(_refusal(uploaded.status_code, uploaded.retry_after_ms))
        return render.file(effect, uploaded.content_uri, keys)

    async def _send(self, item: Outgoing, room_id: str) -> DeliveryResult:
        client = self.client
        assert client is not None
        contents = await self._contents(item, room_id)
        try:
            await self._prepare(room_id)
        except (aiohttp.ClientError, TimeoutError, LocalProtocolError) as error:
            return Failed(f"sharing the room key failed: {type(error).__name__}")
        sent: list[str] = []
        for part, content in enumerate(contents):
            # The same transaction id for the same part of the same item: a resend after an ambiguous
            # failure is deduplicated by the homeserver.
            txn = f"{self._txn_prefix}-{item.id}-{part}"
            try:
                response = await client.room_send(
                    room_id, "m.room.message", content, tx_id=txn, ignore_unverified_devices=True
                )
            except aiohttp.ClientConnectorError as error:
                return Failed(f"homeserver unreachable: {type(error).__name__}")
            except (TimeoutError, aiohttp.ClientError) as error:
                return Ambiguous(f"no answer after sending: {type(error).__name__}")
            except LocalProtocolError as error:
                return Failed(f"not ready to encrypt: {type(error).__name__}")
            if not isinstance(response, RoomSendResponse):
                return _refusal(response.status_code, response.retry_after_ms)
            sent.append(str(response.event_id))
        if self.on_sent is not None:
            self.on_sent(item, room_id, sent)
        effect = item.effect
        if isinstance(effect, PostCard):
            return Delivered(sent[0], sent[0])
        if isinstance(effect, EditCard):
            return Delivered(item.card_ref, item.thread_ref)
        thread = item.thread_ref if isinstance(effect, Send) and effect.in_thread else None
        return Delivered(sent[0], thread)
