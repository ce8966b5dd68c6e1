"""End-to-end tests of the local Synapse harness with real, E2E-encrypting matrix-nio clients.

One Synapse (relaxed rate limits) serves the whole session (the ``synapse`` fixture in
tests/e2e/conftest.py); every test makes its own users so the tests do not depend on each
other's order.

The recipe for an encrypted DM with matrix-nio 0.26 (what these tests do, step by step):

1. ``AsyncClient(base_url, user_id, store_path=..., config=AsyncClientConfig(
   encryption_enabled=True, store_sync_tokens=True))`` then ``await client.login(pw)``
   (or ``restore_login(user_id, device_id, token)`` for a saved device, see below).
   Logging in creates the Olm account in the store, but does NOT publish it.
2. Publish the device keys: ``if client.should_upload_keys: await client.keys_upload()``.
   Until this runs nobody can encrypt to the device: the sender's ``keys/query`` does not
   list it and ``keys/claim`` has no one-time key for it, so the sender silently skips it
   and the message is undecryptable for this device forever. In nio only
   ``sync_forever()`` does this automatically; a plain ``sync()`` does NOT (see
   ``sync_once`` below, which does what one ``sync_forever`` iteration does).
3. Creator: ``room_create(is_direct=True, preset=trusted_private_chat, invite=[peer],
   initial_state=[{"type": "m.room.encryption", "state_key": "", "content":
   {"algorithm": "m.megolm.v1.aes-sha2"}}])`` (what Element does), then mark it as a DM
   in the ``m.direct`` account data (nio has no helper: plain ``PUT
   /user/<me>/account_data/m.direct``).
4. Invitee: sync until the invite shows up, ``join(room_id)``, sync.
5. Sender: ``sync`` (so the client knows the room is encrypted and who is in it), then
   ``room_send(..., ignore_unverified_devices=True)``. ``room_send`` itself fetches
   joined members, runs ``keys_query`` if needed, and calls ``share_group_session``
   (claims one-time keys, sends the Megolm key to each device over Olm as to-device
   messages), then encrypts. Without ``ignore_unverified_devices=True`` (or an explicit
   ``verify_device()`` of every device) nio raises ``OlmUnverifiedDeviceError``, because
   nobody here does interactive (SAS/cross-signing) verification.
6. Receiver: sync; nio handles the to-device ``m.room_key`` first, then decrypts the
   timeline's ``m.room.encrypted`` into a ``RoomMessageText`` (``event.decrypted`` True).
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomKeyRequest,
    RoomKeyRequestResponse,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from adapters.matrix.homeserver import (
    HomeserverError,
    LocalSynapse,
    MatrixApiError,
    RateLimitOverride,
    Registration,
)

pytestmark = [pytest.mark.homeserver, pytest.mark.asyncio(loop_scope="module")]

T = TypeVar("T")

MEGOLM = "m.megolm.v1.aes-sha2"
ENCRYPTION_STATE = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}


# ---------------------------------------------------------------- fixtures


class Clients:
    """Makes nio clients with their own store directories and closes them all at the end."""

    def __init__(self, hs: LocalSynapse, root: Path) -> None:
        self.hs = hs
        self.root = root
        self.open: list[AsyncClient] = []

    def store_dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new(self, user_id: str, store_name: str, device_id: str = "") -> AsyncClient:
        client = AsyncClient(
            self.hs.base_url,
            user_id,
            device_id=device_id,
            store_path=str(self.store_dir(store_name)),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        self.open.append(client)
        return client

    async def user(self, name: str) -> tuple[AsyncClient, str]:
        """A new user, logged in through nio, with its device keys published."""
        localpart = f"{name}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12)
        user_id = await self.hs.create_user(localpart, password)
        client = self.new(user_id, localpart)
        resp = await client.login(password, device_name=f"{name} test device")
        assert isinstance(resp, LoginResponse), resp
        # login() loaded the store (Olm account), but the keys are only on this machine.
        assert client.should_upload_keys
        await sync_once(client)
        assert not client.should_upload_keys
        return client, password


@pytest_asyncio.fixture(loop_scope="module")
async def clients(synapse: LocalSynapse, tmp_path: Path) -> AsyncIterator[Clients]:
    made = Clients(synapse, tmp_path / "nio")
    try:
        yield made
    finally:
        for client in made.open:
            await client.close()


# ---------------------------------------------------------------- nio helpers


async def sync_once(client: AsyncClient, timeout_ms: int = 0) -> SyncResponse:
    """One iteration of what ``AsyncClient.sync_forever`` does, without the loop.

    A bare ``client.sync()`` only processes the response; the E2E housekeeping
    (uploading our keys, querying others' device lists, claiming one-time keys for Olm
    sessions, sending queued to-device messages such as key forwards) is ours to do.
    """
    resp = await client.sync(timeout=timeout_ms)
    assert isinstance(resp, SyncResponse), resp
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    await client.send_to_device_messages()
    return resp


async def sync_until(
    client: AsyncClient,
    found: Callable[[SyncResponse], T | None],
    what: str,
    deadline_s: float = 15.0,
) -> T:
    """Sync (long-polling 500 ms) until ``found(response)`` returns something."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = found(await sync_once(client, timeout_ms=500))
        if result is not None:
            return result
    raise AssertionError(f"{client.user_id}: timed out waiting for {what}")


def timeline_event(room_id: str, event_id: str) -> Callable[[SyncResponse], Any]:
    def find(resp: SyncResponse) -> Any:
        room = resp.rooms.join.get(room_id)
        if room is None:
            return None
        return next((e for e in room.timeline.events if e.event_id == event_id), None)

    return find


async def create_encrypted_dm(hs: LocalSynapse, creator: AsyncClient, invitee: str) -> str:
    """Create a DM the way Element does: encrypted from the first event, is_direct."""
    resp = await creator.room_create(
        is_direct=True,
        preset=RoomPreset.trusted_private_chat,
        invite=[invitee],
        initial_state=[ENCRYPTION_STATE],
    )
    assert isinstance(resp, RoomCreateResponse), resp
    # Element also records the DM in the creator's m.direct account data.
    await hs.request(
        "PUT",
        f"/_matrix/client/v3/user/{creator.user_id}/account_data/m.direct",
        access_token=creator.access_token,
        json_body={invitee: [resp.room_id]},
    )
    await sync_once(creator)
    assert creator.rooms[resp.room_id].encrypted
    return str(resp.room_id)


async def accept_invite(client: AsyncClient, room_id: str) -> None:
    await sync_until(client, lambda r: r.rooms.invite.get(room_id), f"invite to {room_id}")
    resp = await client.join(room_id)
    assert isinstance(resp, JoinResponse), resp
    await sync_once(client)


async def send_text(client: AsyncClient, room_id: str, body: str) -> str:
    # Sync first so the sender sees the latest membership (who to share the key with).
    await sync_once(client)
    # ignore_unverified_devices=True: nobody here does interactive verification, so
    # every device is "unverified"; without this nio raises OlmUnverifiedDeviceError
    # instead of sending. "Ignored" devices still receive the room key.
    resp = await client.room_send(
        room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": body},
        ignore_unverified_devices=True,
    )
    assert isinstance(resp, RoomSendResponse), resp
    return str(resp.event_id)


async def receive_text(client: AsyncClient, room_id: str, event_id: str) -> RoomMessageText:
    event = await sync_until(client, timeline_event(room_id, event_id), f"event {event_id}")
    assert isinstance(event, RoomMessageText), f"not decrypted: {event!r}"
    return event


async def raw_event(hs: LocalSynapse, token: str, room_id: str, event_id: str) -> dict[str, Any]:
    """The event as the server stores and serves it (plain client-server API)."""
    result = await hs.request(
        "GET",
        f"/_matrix/client/v3/rooms/{room_id}/messages",
        access_token=token,
        params={"dir": "b", "limit": "20"},
    )
    return next(e for e in result["chunk"] if e["event_id"] == event_id)


# ---------------------------------------------------------------- tests


async def test_harness_basics(synapse: LocalSynapse) -> None:
    assert synapse.running
    assert synapse.base_url == f"http://127.0.0.1:{synapse.port}"
    assert synapse.server_name == "localhost"
    assert synapse.last_start_seconds is not None
    versions = await synapse.request("GET", "/_matrix/client/versions")
    assert versions["versions"]
    # No federation listener: the federation API is not served at all.
    with pytest.raises(MatrixApiError) as err:
        await synapse.request("GET", "/_matrix/federation/v1/version")
    assert err.value.status in (400, 404)
    # Open registration is off; only the shared-secret admin API creates users.
    with pytest.raises(MatrixApiError) as err:
        await synapse.request("POST", "/_matrix/client/v3/register", json_body={"username": "x", "password": "y"})
    assert err.value.status in (401, 403)
    config = json.loads(synapse.config_path.read_text())
    assert config["federation_domain_whitelist"] == []
    assert config["trusted_key_servers"] == []
    assert config["listeners"][0]["bind_addresses"] == ["127.0.0.1"]

    user_id, token, device_id = await synapse.register("reg-" + secrets.token_hex(3), "pw")
    assert (await synapse.whoami(token))["device_id"] == device_id
    # Registering again: a clear error, or a login with exist_ok=True.
    localpart = user_id[1:].split(":")[0]
    with pytest.raises(MatrixApiError) as err:
        await synapse.register(localpart, "pw")
    assert err.value.errcode == "M_USER_IN_USE"
    again = await synapse.register(localpart, "pw", exist_ok=True)
    assert again.user_id == user_id and again.device_id != device_id


async def test_encrypted_dm_between_two_nio_clients(synapse: LocalSynapse, clients: Clients) -> None:
    alice, _ = await clients.user("alice")
    bob, _ = await clients.user("bob")

    room_id = await create_encrypted_dm(synapse, alice, bob.user_id)
    await accept_invite(bob, room_id)
    assert bob.rooms[room_id].encrypted

    event_id = await send_text(alice, room_id, "hello bob, this is private")
    received = await receive_text(bob, room_id, event_id)
    assert received.body == "hello bob, this is private"
    assert received.sender == alice.user_id
    assert received.decrypted
    # The device is unverified but its identity key matched the Olm session: nio marks
    # such events decrypted=True, verified=False.
    assert not received.verified

    # On the wire (what the server stores and serves) it is an encrypted event.
    wire = await raw_event(synapse, bob.access_token, room_id, event_id)
    assert wire["type"] == "m.room.encrypted"
    assert wire["content"]["algorithm"] == MEGOLM
    assert "ciphertext" in wire["content"] and "body" not in wire["content"]

    # And the reply direction works (bob now shares his own Megolm session).
    reply_id = await send_text(bob, room_id, "hi alice")
    assert (await receive_text(alice, room_id, reply_id)).body == "hi alice"

    # The DM is recorded the Element way.
    direct = await synapse.request(
        "GET",
        f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct",
        access_token=alice.access_token,
    )
    assert direct == {bob.user_id: [room_id]}


async def test_device_survives_client_restart(synapse: LocalSynapse, clients: Clients) -> None:
    alice, _ = await clients.user("alice")
    dave, _ = await clients.user("dave")
    room_id = await create_encrypted_dm(synapse, alice, dave.user_id)
    await accept_invite(dave, room_id)
    first_id = await send_text(alice, room_id, "before restart")
    await receive_text(dave, room_id, first_id)

    # What a bot persists between runs.
    saved = {"user_id": dave.user_id, "device_id": dave.device_id, "access_token": dave.access_token}
    ed25519 = dave.olm.account.identity_keys["ed25519"]
    await dave.close()

    # While dave is offline: alice sends on the existing Megolm session...
    offline_id = await send_text(alice, room_id, "while you were away")

    # A fresh client on the same store path. restore_login() sets the credentials and,
    # in nio 0.26, already calls load_store() (the Olm account, Olm/Megolm sessions,
    # device lists, sync token); calling load_store() again is a no-op (kept to be
    # explicit: older nio versions needed it). Without a loaded store client.olm is None
    # and nothing can be encrypted or decrypted. A different (empty) store path would
    # mean a brand-new Olm account under the old device ID, which the server and peers
    # know with other keys: a broken device. Never call login() again here either: it
    # would create a second device.
    dave2 = clients.new(saved["user_id"], dave.user_id[1:].split(":")[0], saved["device_id"])
    dave2.restore_login(saved["user_id"], saved["device_id"], saved["access_token"])
    dave2.load_store()
    assert dave2.olm is not None
    assert dave2.olm.account.identity_keys["ed25519"] == ed25519
    assert dave2.loaded_sync_token  # store_sync_tokens=True: resumes where it stopped

    assert (await receive_text(dave2, room_id, offline_id)).body == "while you were away"

    # ...and a brand-new Megolm session (rotated by alice) is delivered over Olm to the
    # restored device, which needs the restored Olm account to decrypt it.
    alice.olm.outbound_group_sessions.pop(room_id, None)
    after_id = await send_text(alice, room_id, "after restart")
    assert (await receive_text(dave2, room_id, after_id)).body == "after restart"

    devices = await synapse.devices(saved["access_token"])
    assert [d["device_id"] for d in devices] == [saved["device_id"]]
    # The server-side identity key is the one in the restored store.
    keys = await synapse.request(
        "POST",
        "/_matrix/client/v3/keys/query",
        access_token=alice.access_token,
        json_body={"device_keys": {dave.user_id: []}},
    )
    dave_devices = keys["device_keys"][dave.user_id]
    assert list(dave_devices) == [saved["device_id"]]
    assert dave_devices[saved["device_id"]]["keys"][f"ed25519:{saved['device_id']}"] == ed25519


async def test_undecryptable_message_and_key_request(synapse: LocalSynapse, clients: Clients) -> None:
    """What nio does with a message it has no key for.

    Findings (matrix-nio 0.26):
    * The event arrives in the sync timeline as ``nio.MegolmEvent`` (not
      RoomMessageText): room_id, sender, session_id, sender_key, algorithm are there;
      ``decrypted`` is False. Nothing is raised. A bot must handle MegolmEvent itself.
    * ``client.request_room_key(event)`` sends ``m.room_key_request`` as a to-device
      message to the requester's OWN devices only (``<own user>/*``), never to the
      message's sender. A second call for the same session raises LocalProtocolError
      (``client.outgoing_key_requests`` remembers it).
    * So a single-device bot never gets an answer: there is no own device with the key.
      The realistic recovery is to ask the reporter to send again (a new message that
      is encrypted for the bot's current device).
    * Another own device running nio receives the request; as the requesting device is
      not verified, nio does not share automatically but hands a ``RoomKeyRequest`` to
      the to-device callbacks. After ``verify_device()`` + ``continue_key_share()`` it
      forwards the key (``m.forwarded_room_key``, over Olm) and the requesting device can
      ``decrypt_event()`` the MegolmEvent, but only if it has itself verified the
      forwarding device (nio accepts forwarded keys only from verified own devices).
      nio ignores key requests from other users.
    * nio quirk: a request from a device we have no Olm session with is parked until a
      one-time key is claimed AND a later sync response with a new token arrives.
    """
    alice, _ = await clients.user("alice")
    bob, bob_password = await clients.user("bob")
    room_id = await create_encrypted_dm(synapse, alice, bob.user_id)
    await accept_invite(bob, room_id)
    event_id = await send_text(alice, room_id, "sent before bob's second device existed")
    await receive_text(bob, room_id, event_id)

    # Bob's second device appears after the message: the Megolm key was never sent to it.
    bob2 = clients.new(bob.user_id, "bob-second-device")
    assert isinstance(await bob2.login(bob_password, device_name="bob 2"), LoginResponse)
    undecryptable = await sync_until(bob2, timeline_event(room_id, event_id), "history event")
    assert isinstance(undecryptable, MegolmEvent)
    assert undecryptable.session_id and undecryptable.sender == alice.user_id
    assert not undecryptable.decrypted

    # Bob's first device must know the new device (device list update + keys/query)
    # before the request arrives: nio drops requests from devices it does not know.
    def knows_bob2(_: SyncResponse) -> bool | None:
        return bob2.device_id in {d.id for d in bob.device_store.active_user_devices(bob.user_id)} or None

    await sync_until(bob, knows_bob2, "bob's second device in bob's device list")
    requests: list[RoomKeyRequest] = []

    def on_key_request(event: RoomKeyRequest) -> None:
        requests.append(event)

    bob.add_to_device_callback(on_key_request, RoomKeyRequest)

    resp = await bob2.request_room_key(undecryptable)
    assert isinstance(resp, RoomKeyRequestResponse), resp
    assert undecryptable.session_id in bob2.outgoing_key_requests
    with pytest.raises(LocalProtocolError):
        await bob2.request_room_key(undecryptable)

    # nio quirk: bob's device has no Olm session with bob2 yet, so nio parks the request,
    # claims a one-time key (sync_once does keys_claim), and only looks at the parked
    # request again while handling a LATER sync response that has a new sync token. On
    # a quiet account that never comes, so give bob's sync stream something new (a
    # typing notification from bob2) on each round.
    deadline = time.monotonic() + 15
    while not requests:
        assert time.monotonic() < deadline, "timed out waiting for the key request"
        await sync_once(bob, timeout_ms=200)
        await bob2.room_typing(room_id, typing_state=not requests, timeout=1000)
    request = requests[0]
    assert request.requesting_device_id == bob2.device_id
    assert request.session_id == undecryptable.session_id

    # Trust has to go both ways: the sharing device only forwards to a verified own
    # device, and the requesting device only accepts a forwarded key from a verified own
    # device (otherwise nio drops it with "forwarded room key from a untrusted device").
    bob2.verify_device(bob2.device_store[bob.user_id][bob.device_id])
    bob.verify_device(bob.device_store[bob.user_id][bob2.device_id])
    assert bob.continue_key_share(request)
    await sync_once(bob)  # claims a one-time key for bob2 if needed, sends to-device messages
    await sync_once(bob)

    def forwarded(_: SyncResponse) -> bool | None:
        try:
            event = bob2.decrypt_event(undecryptable)
        except Exception:
            return None
        return isinstance(event, RoomMessageText) or None

    await sync_until(bob2, forwarded, "forwarded room key")
    decrypted = bob2.decrypt_event(undecryptable)
    assert isinstance(decrypted, RoomMessageText)
    assert decrypted.body == "sent before bob's second device existed"


async def test_override_ratelimit_round_trip(synapse: LocalSynapse) -> None:
    user_id, _, _ = await synapse.register("bot-" + secrets.token_hex(3), "pw", user_type="bot")
    assert await synapse.get_ratelimit_override(user_id) is None

    exempt = await synapse.override_ratelimit(user_id)
    assert exempt == RateLimitOverride(messages_per_second=0, burst_count=0)
    assert exempt.exempt
    assert await synapse.get_ratelimit_override(user_id) == exempt

    limited = await synapse.override_ratelimit(user_id, messages_per_second=5, burst_count=20)
    assert not limited.exempt
    assert await synapse.get_ratelimit_override(user_id) == RateLimitOverride(5, 20)

    await synapse.delete_ratelimit_override(user_id)
    assert await synapse.get_ratelimit_override(user_id) is None

    # The admin API is for admins only: a normal user cannot read even its own override.
    _, token, _ = await synapse.register("nosy-" + secrets.token_hex(3), "pw")
    with pytest.raises(MatrixApiError) as err:
        await synapse.get_ratelimit_override(user_id, admin_token=token)
    assert err.value.status == 403
    assert "/override_ratelimit" in synapse.override_ratelimit_curl(user_id)


async def test_default_rate_limits_apply_until_overridden(tmp_path: Path) -> None:
    """``rate_limits="default"`` keeps Synapse's limits (rc_message: 0.2/s, burst 10)."""

    async def send_burst(hs: LocalSynapse, reg: Registration, room_id: str, n: int) -> int:
        for i in range(n):
            try:
                await hs.request(
                    "PUT",
                    f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{secrets.token_hex(8)}",
                    access_token=reg.access_token,
                    json_body={"msgtype": "m.text", "body": str(i)},
                )
            except MatrixApiError as e:
                assert e.status == 429 and e.errcode == "M_LIMIT_EXCEEDED", e
                return i
        return n

    async with LocalSynapse(tmp_path / "hs-default", rate_limits="default") as hs:
        limited = await hs.register("limited", "pw")
        room = await hs.request(
            "POST", "/_matrix/client/v3/createRoom", access_token=limited.access_token, json_body={}
        )
        assert await send_burst(hs, limited, room["room_id"], 30) < 30

        bot = await hs.register("bot", "pw", user_type="bot")
        await hs.override_ratelimit(bot.user_id)
        room = await hs.request("POST", "/_matrix/client/v3/createRoom", access_token=bot.access_token, json_body={})
        assert await send_burst(hs, bot, room["room_id"], 30) == 30
    assert not hs.running


async def test_restart_on_same_data_dir_keeps_users_and_rooms(synapse: LocalSynapse) -> None:
    reg = await synapse.register("keep-" + secrets.token_hex(3), "pw")
    room = await synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        access_token=reg.access_token,
        json_body={"name": "kept", "initial_state": [ENCRYPTION_STATE]},
    )
    room_id = room["room_id"]
    port = synapse.port

    # Same object: stop + start keeps the port.
    await synapse.restart()
    assert synapse.port == port
    print(f"\nSynapse restarted in {synapse.last_start_seconds:.2f} s")

    async def check(hs: LocalSynapse) -> None:
        assert (await hs.whoami(reg.access_token))["user_id"] == reg.user_id
        joined = await hs.request("GET", "/_matrix/client/v3/joined_rooms", access_token=reg.access_token)
        assert room_id in joined["joined_rooms"]
        enc = await hs.request(
            "GET",
            f"/_matrix/client/v3/rooms/{room_id}/state/m.room.encryption",
            access_token=reg.access_token,
        )
        assert enc == {"algorithm": MEGOLM}
        # Password login still works (hash in the same database).
        assert (await hs.login(reg.user_id, "pw")).user_id == reg.user_id

    await check(synapse)

    # A new LocalSynapse on the same data directory (new port) sees the same state.
    await synapse.stop()
    try:
        async with LocalSynapse(synapse.data_dir) as again:
            await check(again)
    finally:
        await synapse.start()
    assert synapse.running and synapse.port == port


async def test_start_failures_are_explained(tmp_path: Path) -> None:
    missing = LocalSynapse(tmp_path / "none", synapse_python=tmp_path / "no-python")
    with pytest.raises(HomeserverError, match="Synapse interpreter not found"):
        await missing.start()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = LocalSynapse(tmp_path / "busy", port=port)
        with pytest.raises(HomeserverError) as err:
            await busy.start()
    # The error carries the tail of Synapse's log, which says what went wrong.
    assert "exited with code" in str(err.value)
    assert "Address already in use" in str(err.value)
    assert not busy.running
