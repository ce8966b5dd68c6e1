"""What every benchmark shares: spaces, configuration files, the fake server, the bot as a process.

The bot runs as ``python -m bot.cli run --config FILE`` (a real process, killed with real signals) or
is built in-process from the very same configuration file (``bot.bootstrap.build``), whichever the
figure needs. The fake Telegram Bot API server (``tests.fakes.telegram_api``) runs in the driver's
process: people are fake users that the driver makes write to the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeBotApi

REPO = Path(__file__).resolve().parents[1]
TOKEN = DEFAULT_TOKEN
#: Telegram's documented limits (the fake's defaults).
TELEGRAM_LIMITS = fake.RateLimits()
UNLIMITED = fake.RateLimits.disabled()
#: A Haven configuration value that stands for "no limit" (the configuration wants a number).
NO_LIMIT = 1_000_000


@dataclass(frozen=True)
class SpaceSpec:
    """One space: a forum team room and its responders (the first responder also coordinates)."""

    id: str
    room: int
    responders: tuple[int, ...]
    escalation: str = ""  # extra TOML under [spaces.escalation.*]

    def toml(self) -> str:
        people = "\n".join(
            f'  [[spaces.responders]]\n  id = "telegram:{user}"\n  name = "Responder {user}"\n'
            for user in self.responders
        )
        return (
            f'[[spaces]]\nid = "{self.id}"\nname = "Space {self.id}"\nteam_room = "telegram:{self.room}"\n'
            f'coordinators = ["telegram:{self.responders[0]}"]\n\n{people}\n{self.escalation}\n'
        )


@dataclass(frozen=True)
class BotLimits:
    """Haven's outbound limits (``None``: Telegram's defaults)."""

    global_per_second: float | None = None
    private_per_second: float | None = None
    group_per_minute: float | None = None

    def toml(self) -> str:
        lines = [f"{key} = {value}" for key, value in vars(self).items() if value is not None]
        return "\n".join(lines)


LIFTED = BotLimits(NO_LIMIT, NO_LIMIT, NO_LIMIT)


def write_config(
    folder: Path,
    server: FakeBotApi,
    spaces: Sequence[SpaceSpec],
    *,
    limits: BotLimits = BotLimits(),
    poll_timeout: int = 5,
    log_level: str = "INFO",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "haven.toml"
    head = textwrap.dedent(
        f"""
        [storage]
        url = "sqlite:///{folder / "haven.db"}"
        master_key_file = "{folder / "master.key"}"

        [telegram]
        token = "{TOKEN}"
        base_url = "{server.base_url}"
        poll_timeout = {poll_timeout}
        """
    )
    ops = f'\n[operations]\nlog_format = "json"\nlog_level = "{log_level}"\n\n'
    path.write_text(head + limits.toml() + "\n" + ops + "\n".join(s.toml() for s in spaces))
    return path


async def add_people(server: FakeBotApi, spaces: Sequence[SpaceSpec], reporters: Sequence[int] = ()) -> None:
    """Everyone has started the bot; every team room is a forum where the bot administers topics."""
    for space in spaces:
        for user in space.responders:
            if user not in server.users:
                await server.add_user(user, f"Responder {user}", language_code="en")
                server.users[user].started = True
        if space.room not in server.groups:
            await server.add_group(space.room, f"Team {space.id}", is_forum=True, members=list(space.responders))
    for user in reporters:
        await add_reporter(server, user)


async def add_reporter(server: FakeBotApi, user: int) -> None:
    if user not in server.users:
        await server.add_user(user, "Reporter", language_code="en")
        server.users[user].started = True


# --- the bot as a process ------------------------------------------------------------------------


@dataclass
class BotProcess:
    """``haven run`` (or any bot command) as a child process; its JSON log lines are read as they come."""

    command: Sequence[str]
    log: Path
    ready_event: str = "ready"
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.started_at = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log.open("ab") as output:
            while line := await self.process.stdout.readline():
                at = time.monotonic()
                output.write(line)
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if isinstance(entry, dict):
                        self.events.append((at, entry))
                        if entry.get("event") == self.ready_event and self.ready_at is None:
                            self.ready_at = at
                            self._ready.set()

    async def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from the spawn to the ``ready`` log line; fails at once if the process ends first."""
        assert self.process is not None
        ready = asyncio.create_task(self._ready.wait())
        ended = asyncio.create_task(self.process.wait())
        await asyncio.wait({ready, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        ended.cancel()
        if self.ready_at is None:
            code = self.process.returncode
            raise RuntimeError(f"not ready after {timeout:.0f} s" if code is None else f"exited with {code}")
        return self.ready_at - self.started_at

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._finish()

    async def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            code = -9
        await self._finish()
        return code

    async def _finish(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)

    def rss_kib(self) -> int:
        return _status_kib(self.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        return _status_kib(self.pid, "VmHWM")


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def haven_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "run", "--config", str(config)]


# --- reading the bot's database from outside -------------------------------------------------------


def query(database: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """A read on the bot's database (WAL lets it run beside the bot)."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        return list(db.execute(sql, params).fetchall())


def integrity(database: Path) -> str:
    rows = query(database, "PRAGMA integrity_check")
    return str(rows[0][0]) if rows else "no answer"


async def wait_quiet(database: Path, *, timeout: float, timers_due: bool = True) -> None:
    """Until the inbox is applied, the outbox is empty and no timer is due (read from the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = query(database, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")[0][0]
        queued = query(database, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')")[0][0]
        due = 0
        if timers_due:
            due = query(
                database,
                "SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND cancelled = 0 AND due <= ?",
                (time.time(),),
            )[0][0]
        if not pending and not queued and not due:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the bot did not settle")


async def poll_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.25) -> None:
    """Check now and then (a predicate over thousands of messages is too dear to check on every change)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        await asyncio.sleep(interval)


# --- updates as the fake server would queue them ----------------------------------------------------


def report_text(n: int) -> str:
    return f"/report Someone keeps following people near stage {n % 7} and will not stop"


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
