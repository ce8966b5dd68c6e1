"""The embedded default (SPEC 8): ``haven demo`` and ``haven demo --walkthrough``.

``haven demo`` sets up, on this machine and without internet: a Synapse homeserver bound to
127.0.0.1 (SQLite, no federation, no outbound network; from its own virtualenv, see the Makefile),
the demo accounts (a reporter, two responders, a coordinator, the bot) through the admin API, an
encrypted team room, a configuration file, and runs the bot until Ctrl-C. Everything lives under
``var/demo`` (or ``$HAVEN_DEMO_DIR``) and is reused at the next start. It prints how to log in with
any Matrix client.

``haven demo --walkthrough`` does the same in a temporary directory, plays a reporter and a responder
with real matrix-nio clients through a quick report, a guided report and an emergency with its
acknowledgement, prints the conversation, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from adapters.matrix.homeserver import HomeserverError, LocalSynapse, write_private
from adapters.matrix.people import BotWatch, MatrixPerson, Message, PersonError
from adapters.matrix.render import ENCRYPTION_STATE
from adapters.matrix.transport import MatrixStartError, MatrixTransport
from bot import logs
from bot.bootstrap import build
from bot.config import ConfigError, Settings, load
from bot.domain.ids import Platform
from bot.domain.reference import REFERENCE
from bot.i18n import Catalogs
from bot.runtime import Haven

DEMO_DIR_ENV: Final = "HAVEN_DEMO_DIR"
PREFERRED_PORT: Final = 8008


@dataclass(frozen=True, slots=True)
class Account:
    key: str
    name: str
    role: str
    password: str


#: (key, display name, role) of the demo's people; the bot is "haven".
PEOPLE: Final = (
    ("rita", "Rita", "reporter"),
    ("ana", "Ana", "responder"),
    ("ben", "Ben", "responder"),
    ("cora", "Cora", "coordinator"),
)


@dataclass(slots=True)
class Demo:
    root: Path
    synapse: LocalSynapse
    accounts: dict[str, Account]
    team_room: str
    config: Path

    def user_id(self, key: str) -> str:
        return self.synapse.user_id(key)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _read_state(path: Path) -> dict[str, object]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def _toml(value: object) -> str:
    """A TOML value: JSON strings and lists of them are valid TOML."""
    return json.dumps(value, ensure_ascii=False)


def _config_text(demo: Demo) -> str:
    def matrix(key: str) -> str:
        return f"matrix:{demo.user_id(key)}"

    responders = "".join(
        f"\n  [[spaces.responders]]\n  id = {_toml(matrix(key))}\n  name = {_toml(name)}\n"
        f"  languages = {_toml(languages)}\n"
        for key, name, languages in (
            ("ana", "Ana", ["en", "es"]),
            ("ben", "Ben", ["en", "sv"]),
            ("cora", "Cora", ["en"]),
        )
    )
    return (
        textwrap.dedent(
            f"""\
        # Written by `haven demo` (it is rewritten at each start). `haven run --config` this file runs
        # the same bot against the same homeserver, once the demo's homeserver is running.
        [storage]
        url = "sqlite:///haven.db"

        [matrix]
        homeserver = {_toml(demo.synapse.base_url)}
        user_id = {_toml(demo.user_id("haven"))}
        password = {_toml(demo.accounts["haven"].password)}
        store_path = "bot"
        device_name = "Haven demo"

        [operations]
        log_format = "text"

        [[spaces]]
        id = "demo"
        name = "Demo Camp"
        timezone = "Europe/Stockholm"
        languages = ["en", "sv", "ky"]
        team_room = {_toml("matrix:" + demo.team_room)}
        coordinators = [{_toml(matrix("cora"))}]
        code_word = "blue umbrella"
        emergency_contacts = ["Ambulance and police: 112", "Venue security: +46 8 000 000"]

          [spaces.contacts]
          psychological = ["Listening line: +46 8 111 111"]
        """
        )
        + responders
    )


async def _create_team_room(hs: LocalSynapse, coordinator: Account, members: list[str]) -> str:
    """The coordinator creates the encrypted team room and invites the responders and the bot."""
    login = await hs.login(coordinator.key, coordinator.password, initial_device_display_name="haven demo set-up")
    try:
        created = await hs.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            access_token=login.access_token,
            json_body={
                "name": "Demo Camp response team",
                "preset": "private_chat",
                "invite": members,
                "initial_state": [ENCRYPTION_STATE],
            },
        )
    finally:
        await hs.request("POST", "/_matrix/client/v3/logout", access_token=login.access_token, json_body={})
    return str(created["room_id"])


async def prepare(root: Path, preferred_port: int | None = PREFERRED_PORT) -> Demo:
    """Start the homeserver and make sure the accounts, the team room and the configuration exist.
    The port is the one of the last start if it is free, else ``preferred_port``, else any."""
    state_path = root / "demo.json"
    state = _read_state(state_path)
    saved_port = state.get("port")
    port = saved_port if isinstance(saved_port, int) and _port_is_free(saved_port) else None
    if port is None and preferred_port is not None and _port_is_free(preferred_port):
        port = preferred_port
    hs = LocalSynapse(root / "synapse", port=port, rate_limits="relaxed")
    await hs.start()
    try:
        saved = state.get("passwords")
        passwords: dict[str, str] = dict(saved) if isinstance(saved, dict) else {}
        accounts: dict[str, Account] = {}
        for key, name, role in (*PEOPLE, ("haven", "Haven", "bot")):
            password = passwords.get(key) or secrets.token_urlsafe(12)
            await hs.create_user(
                key, password, displayname=name, user_type="bot" if key == "haven" else None, exist_ok=True
            )
            accounts[key] = Account(key, name, role, password)
        await hs.override_ratelimit(hs.user_id("haven"))
        team_room = state.get("team_room")
        if not isinstance(team_room, str):
            members = [hs.user_id(key) for key in ("ana", "ben", "haven")]
            team_room = await _create_team_room(hs, accounts["cora"], members)
        write_private(
            state_path,
            json.dumps(
                {"port": hs.port, "team_room": team_room, "passwords": {k: a.password for k, a in accounts.items()}}
            ),
        )
        demo = Demo(root, hs, accounts, team_room, root / "haven.toml")
        write_private(demo.config, _config_text(demo))
        return demo
    except BaseException:
        await hs.stop()
        raise


def settings_of(demo: Demo) -> Settings:
    return load(demo.config, languages=Catalogs().languages)


def login_instructions(demo: Demo) -> str:
    width = max(len(demo.user_id(key)) for key, _, _ in PEOPLE)
    accounts = [
        f"    {a.role:<12} {demo.user_id(a.key):<{width}}  password: {a.password}"
        for a in demo.accounts.values()
        if a.key != "haven"
    ]
    return "\n".join(
        [
            "",
            "Haven demo is running.",
            "",
            f"  Homeserver: {demo.synapse.base_url}",
            '    (any Matrix client, e.g. Element: "Sign in", edit the homeserver, enter the URL above)',
            "  Accounts:",
            *accounts,
            f"  The bot: {demo.user_id('haven')}",
            "    As the reporter, start a direct chat with the bot and send !report, !emergency or !help.",
            '    The responders and the coordinator are invited to the team room "Demo Camp response team".',
            f"  Data: {demo.root} (reused at the next start; delete it to start over)",
            f"  Configuration: {demo.config}",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


async def _serve(root: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo = await prepare(root)
    try:
        haven = build(settings_of(demo))
        await haven.start()
        try:
            print(login_instructions(demo), flush=True)
            await stop.wait()
            print("Stopping…", flush=True)
        finally:
            await haven.stop()
    finally:
        await demo.synapse.stop()
    return 0


# --- the walkthrough ---------------------------------------------------------------------------------


class Walkthrough:
    """Plays Rita (a reporter) and Ana (a responder) against the running bot, and prints what happens."""

    def __init__(self, demo: Demo, haven: Haven, transport: MatrixTransport, watch: BotWatch) -> None:
        self.demo = demo
        self.haven = haven
        self.transport = transport
        self.watch = watch
        self.bot = demo.user_id("haven")
        self.rita = MatrixPerson(demo.synapse.base_url, demo.user_id("rita"), demo.root / "people" / "rita")
        self.ana = MatrixPerson(demo.synapse.base_url, demo.user_id("ana"), demo.root / "people" / "ana")
        self.names = {self.rita: "Rita", self.ana: "Ana"}
        self.printed: dict[str, str] = {}
        self.rita_room = ""

    def reader(self, room_id: str) -> MatrixPerson | None:
        """Ana reads the team room; Rita and Ana their direct chats (the bot's pages to Ben and Cora
        stay unread: nobody plays them)."""
        if room_id == self.demo.team_room:
            return self.ana
        assert self.transport.client is not None
        room = self.transport.client.rooms.get(room_id)
        return next((p for p in self.names if room is not None and p.user_id in room.users), None)

    async def act(self, person: MatrixPerson, event_id: str, shown: str, where: str = "Haven") -> None:
        """Print what a person did, wait until the bot is done with it, print what the bot sent."""
        print(f"\n{self.names[person]} → {where}: {shown}")
        await self.watch.until_recorded({event_id})
        await self.haven.settle()
        await self.watch.until_seen(self.reader)
        self.show_new()

    def show_new(self) -> None:
        for person in self.names:
            for message in person.from_sender(self.bot):
                shown = self.printed.get(message.event_id)
                if shown == message.body:
                    continue
                self.printed[message.event_id] = message.body
                if message.room_id == self.demo.team_room:
                    target = "team room" + (" (in the case's thread)" if message.thread else "")
                else:
                    target = self.names[person]
                verb = "edits the card" if shown is not None else "→"
                body = textwrap.indent(message.body, "    ").lstrip()
                print(f"Haven {verb} {target}: {body}" if shown is None else f"Haven {verb} in the {target}: {body}")

    async def say(self, text: str) -> None:
        await self.act(self.rita, await self.rita.send(self.rita_room, text), text)

    async def choose(self, label: str) -> None:
        question = next((m for m in reversed(self.rita.from_sender(self.bot, self.rita_room)) if m.options), None)
        if question is None or label not in question.options:
            raise PersonError(f"Rita was not offered {label!r}")
        number = str(question.options.index(label) + 1)
        await self.act(self.rita, await self.rita.send(self.rita_room, number), f"{number}  ({label})")

    def last_to_rita(self) -> Message:
        return self.rita.from_sender(self.bot, self.rita_room)[-1]

    async def run(self) -> None:
        accounts = self.demo.accounts
        await self.rita.log_in(accounts["rita"].password)
        await self.ana.log_in(accounts["ana"].password)
        await self.ana.join(self.demo.team_room)
        self.rita_room = await self.rita.open_direct_chat(self.bot)

        print("\n=== 1. A quick report, in one message ===")
        await self.say("!report A man keeps grabbing people at the bar")
        await self.choose("English")
        _reference(self.rita.from_sender(self.bot, self.rita_room)[-2].text)
        await self.choose("No, that is all")

        print("\n=== 2. A guided report, step by step ===")
        await self.say("!report")
        for label in ("No", "I saw it happen", "Hostile or inappropriate behaviour"):
            await self.choose(label)
        await self.say("Last night, near the main stage")
        await self.choose("Skip")
        await self.say("Loud threats against a volunteer at the info desk")
        for label in ("✔ Done", "Anyone on duty", "Yes, contact me here, but keep me anonymous", "✔ Send report"):
            await self.choose(label)
        _reference(self.last_to_rita().text)

        print("\n=== 3. An emergency, acknowledged by a responder ===")
        await self.say("!emergency")
        reference = _reference(self.last_to_rita().text)
        card = next(
            m
            for m in self.ana.from_sender(self.bot, self.demo.team_room)
            if m.event_id in self.watch.cards and reference in m.body
        )
        event = await self.ana.react(self.demo.team_room, card.event_id, "✅")
        await self.act(self.ana, event, f"reacts ✅ to the card of {reference}", "team room")
        await self.say("Behind the main stage, by the blue tent")
        if reference not in " ".join(m.body for m in self.ana.from_sender(self.bot)):
            raise PersonError("Ana was never paged")

    async def close(self) -> None:
        for person in self.names:
            await person.close()


def _reference(text: str) -> str:
    for word in (w.strip(".,:;!") for w in text.split()):
        if REFERENCE.match(word):
            return word
    raise PersonError(f"no case reference in: {text!r}")


async def _walkthrough() -> int:
    with tempfile.TemporaryDirectory(prefix="haven-walkthrough-") as tmp:
        demo = await prepare(Path(tmp), preferred_port=None)
        try:
            haven = build(settings_of(demo))
            transport = haven.transports[Platform("matrix")]
            assert isinstance(transport, MatrixTransport)
            watch = BotWatch()
            transport.on_sent = watch.on_sent
            haven.sink = watch.wrap(haven.sink)  # type: ignore[assignment]
            await haven.start()
            play = Walkthrough(demo, haven, transport, watch)
            try:
                await asyncio.wait_for(transport.ready.wait(), 30)
                print(f"A local homeserver runs at {demo.synapse.base_url}; Rita reports, Ana responds.")
                await play.run()
                print("\nThe walkthrough is complete.")
            finally:
                await play.close()
                await haven.stop()
        finally:
            await demo.synapse.stop()
    return 0


def demo_dir() -> Path:
    return Path(os.environ.get(DEMO_DIR_ENV) or Path.cwd() / "var" / "demo")


def main(walkthrough: bool = False) -> int:
    logs.setup("text", "ERROR" if walkthrough else "INFO")
    try:
        return asyncio.run(_walkthrough() if walkthrough else _serve(demo_dir()))
    except (HomeserverError, MatrixStartError, ConfigError, PersonError, TimeoutError) as error:
        print(f"haven demo: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
