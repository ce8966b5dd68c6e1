"""The crash harness: reporters file cases while the bot is killed with SIGKILL at random moments.

Each round starts the bot as a real process on the same storage, lets fake reporters write to it
through the fake Bot API server, and kills it with SIGKILL at a random moment (one round in ten
before it is even ready). Some emergencies are preceded by an injected *ambiguous timeout*: the fake
performs the next ``sendMessage`` to a responder and then drops the connection without an answer.
After every round the database must pass ``PRAGMA integrity_check``. A last run, stopped with SIGTERM
once everything settled, delivers what the kills left behind. Then the fake server's record of what
the bot sent is compared with what the reporters filed:

* lost: a report whose receipt (a message carrying its reference) reached the reporter, but whose case
  is not in the bot's storage;
* unprocessed: a report update that was handed out and confirmed, but never produced a case;
* processed twice: more cases than report updates, or the same reply twice in a reporter's chat;
* duplicates: the same receipt, card (one per case in the team room) or page (same text to the same
  responder) sent twice. An emergency page sent twice is expected right after an injected ambiguous
  timeout, or when a kill interrupted its send (the outbox sends emergency pages at least once): the
  fake performed it at most a second before the kill, or after the kill and before the next start (its
  request was still on its way when the bot died). Those are counted apart, as *explained*.

The same harness runs the baseline (python-telegram-bot's ConversationHandler with PicklePersistence,
:mod:`bench.baseline_ptb`): only the command, the configuration and the way to read its storage differ.
"""

from __future__ import annotations

import asyncio
import pickle
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.scenario import (
    BotLimits,
    BotProcess,
    SpaceSpec,
    add_people,
    add_reporter,
    haven_command,
    integrity,
    query,
    report_text,
    wait_quiet,
    write_config,
)
from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import FakeBotApi, StoredMessage

REF = re.compile(r"\b[2-9A-Z]{3}-[2-9A-Z]{3}\b")
ROOM = -1001000000001
RESPONDERS = (2001, 2002, 2003)
FIRST_REPORTER = 7_000_000
#: Normal cases page at once and again after 2 s (so timers cross restarts); emergencies page everyone.
POLICIES = """
  [spaces.escalation.normal]
  steps = [ { after = "0s", notify = "oncall" }, { after = "2s", notify = "team" } ]
  [spaces.escalation.high]
  steps = [ { after = "0s", notify = "oncall" }, { after = "2s", notify = "team" } ]
  [spaces.escalation.emergency]
  steps = [ { after = "0s", notify = "everyone" } ]
"""
SPACE = SpaceSpec("camp", ROOM, RESPONDERS, POLICIES)
#: Telegram's shape, ten times faster, on both sides: every case pages all three responders, and at
#: one message per second per chat the pages of 200 rounds would take a quarter of an hour to drain.
SERVER_LIMITS = fake.RateLimits(
    private=fake.RateLimit(10, 1.0), group=fake.RateLimit(600, 60.0), global_=fake.RateLimit(300, 1.0)
)
BOT_LIMITS = BotLimits(global_per_second=300, private_per_second=10, group_per_minute=600)
#: A kill this soon after a page reached the server may have interrupted its send.
INTERRUPTED = 1.0


class BotUnderTest(Protocol):
    name: str

    def configure(self, folder: Path, server: FakeBotApi) -> Path: ...
    def command(self, config: Path) -> list[str]: ...
    def stored_refs(self, folder: Path) -> set[str]: ...
    def check_storage(self, folder: Path) -> str:
        """``ok``, or what is wrong with the storage after a kill."""
        ...

    async def settle(self, folder: Path) -> None: ...


class HavenBot:
    name = "Haven"

    def configure(self, folder: Path, server: FakeBotApi) -> Path:
        return write_config(folder, server, [SPACE], limits=BOT_LIMITS, poll_timeout=5)

    def command(self, config: Path) -> list[str]:
        return haven_command(config)

    def stored_refs(self, folder: Path) -> set[str]:
        rows = query(folder / "haven.db", "SELECT ref FROM cases WHERE content IS NOT NULL")
        return {str(r[0]) for r in rows}

    def check_storage(self, folder: Path) -> str:
        return integrity(folder / "haven.db")

    async def settle(self, folder: Path) -> None:
        await wait_quiet(folder / "haven.db", timeout=900)


class BaselineBot:
    """python-telegram-bot's ConversationHandler with PicklePersistence (see :mod:`bench.baseline_ptb`)."""

    name = "PTB baseline"

    def configure(self, folder: Path, server: FakeBotApi) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "baseline.json"
        from bench.baseline_ptb import write_settings

        write_settings(path, server.base_url, folder / "baseline.pickle", ROOM, RESPONDERS)
        return path

    def command(self, config: Path) -> list[str]:
        return [sys.executable, "-m", "bench.baseline_ptb", str(config)]

    def stored_refs(self, folder: Path) -> set[str]:
        path = folder / "baseline.pickle"
        if not path.exists():
            return set()
        with path.open("rb") as file:
            data = pickle.load(file)
        return set(data.get("bot_data", {}).get("cases", {}))

    def check_storage(self, folder: Path) -> str:
        try:
            self.stored_refs(folder)
        except Exception as error:  # a torn pickle
            return f"unreadable: {type(error).__name__}"
        return "ok"

    async def settle(self, folder: Path) -> None:
        await asyncio.sleep(4.0)


@dataclass
class CrashResult:
    bot: str
    rounds: int
    kills: int = 0
    killed_before_ready: int = 0
    reports: int = 0
    other_messages: int = 0
    acknowledged: int = 0
    lost: int = 0
    unprocessed: int = 0
    processed_twice: int = 0
    duplicate_receipts: int = 0
    duplicate_cards: int = 0
    duplicate_pages: int = 0
    explained_emergency_repeats: int = 0
    ambiguous_faults: int = 0
    cards_missing: int = 0
    receipts_missing: int = 0
    integrity_failures: int = 0
    integrity_checks: int = 0
    start_failures: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (
            self.lost
            or self.unprocessed
            or self.processed_twice
            or self.duplicate_receipts
            or self.duplicate_cards
            or self.duplicate_pages
            or self.integrity_failures
            or self.start_failures
        )


@dataclass
class _Filed:
    user: int
    kind: str  # report, emergency, status
    at: float


async def run(
    bot: BotUnderTest,
    folder: Path,
    rounds: int,
    *,
    seed: int = 1,
    faults: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CrashResult:
    rng = random.Random(seed)
    result = CrashResult(bot.name, rounds)
    filed: list[_Filed] = []
    kills: list[float] = []
    #: When each process was spawned: a send the fake performs after a kill and before the next spawn
    #: was on its way from the killed bot (its request was still being read when the bot died).
    spawns: list[float] = []
    started = time.monotonic()
    log = folder / "bot.log"
    async with FakeBotApi(rate_limits=SERVER_LIMITS, seed=seed) as server:
        await add_people(server, [SPACE])
        config = bot.configure(folder, server)
        next_user = FIRST_REPORTER

        async def file_one(delay: float) -> None:
            nonlocal next_user
            await asyncio.sleep(delay)
            roll = rng.random()
            asked = {f.user for f in filed if f.kind == "status"}
            quiet = [f.user for f in filed if f.kind != "status" and f.user not in asked]
            if roll < 0.12 and quiet:
                reporter = rng.choice(quiet)  # a reporter asks once how their case is doing
                filed.append(_Filed(reporter, "status", time.monotonic()))
                await server.user_sends_text(reporter, "/status")
                return
            user = next_user
            next_user += 1
            await add_reporter(server, user)
            if roll < 0.35:
                if faults and rng.random() < 0.4:
                    server.ambiguous_next("sendMessage", chat_id=rng.choice(RESPONDERS), mode="drop")
                    result.ambiguous_faults += 1
                filed.append(_Filed(user, "emergency", time.monotonic()))
                await server.user_sends_text(user, "/emergency")
            else:
                filed.append(_Filed(user, "report", time.monotonic()))
                await server.user_sends_text(user, report_text(user))

        for number in range(rounds):
            process = BotProcess(bot.command(config), log)
            spawns.append(time.monotonic())
            await process.start()
            if rng.random() < 0.1:
                await asyncio.sleep(rng.uniform(0.0, 1.0))  # still importing, migrating, starting
                result.killed_before_ready += 1
                window = 0.0
            else:
                try:
                    await process.wait_ready(60)
                except RuntimeError as error:
                    result.start_failures += 1
                    tail = [e.get("event", "") for _, e in process.events[-3:]]
                    result.problems.append(f"round {number}: the bot did not become ready ({error}); last: {tail}")
                window = rng.uniform(0.0, 1.5)
            count = rng.randint(1, 3)
            filing = [asyncio.create_task(file_one(rng.uniform(0.0, window + 0.3))) for _ in range(count)]
            await asyncio.sleep(window)
            kills.append(time.monotonic())
            await process.kill()
            result.kills += 1
            await asyncio.gather(*filing)
            state = bot.check_storage(folder)
            result.integrity_checks += 1
            if state != "ok":
                result.integrity_failures += 1
                result.problems.append(f"round {number}: storage after the kill: {state}")
            if progress and (number + 1) % 10 == 0:
                progress(f"{bot.name}: {number + 1}/{rounds} rounds")

        # A last run, stopped gracefully once everything settled: what the kills left behind leaves now.
        process = BotProcess(bot.command(config), log)
        spawns.append(time.monotonic())
        await process.start()
        await process.wait_ready(60)
        await server.wait_until(lambda: not server.pending_updates, timeout=60, what="every update fetched")
        await bot.settle(folder)
        await asyncio.sleep(2.5)  # room for a late duplicate to show up
        await process.terminate()
        result.seconds = time.monotonic() - started
        _analyse(result, bot, folder, server, filed, list(zip(kills, spawns[1:], strict=True)))
    text = log.read_text(errors="replace")
    if fake.DEFAULT_TOKEN.split(":")[1] in text or "keeps following" in text:
        result.problems.append("a secret or report content reached the log")
    return result


def _analyse(
    result: CrashResult,
    bot: BotUnderTest,
    folder: Path,
    server: FakeBotApi,
    filed: Sequence[_Filed],
    kills: Sequence[tuple[float, float]],
) -> None:
    """``kills``: (the moment of each kill, the next spawn)."""
    reporters = {f.user for f in filed if f.kind != "status"}
    result.reports = len(reporters)
    result.other_messages = len([f for f in filed if f.kind == "status"])
    stored = bot.stored_refs(folder)

    # Receipts: the first message carrying a reference in each reporter's chat.
    acknowledged: set[str] = set()
    for user in reporters:
        messages = server.sent_messages(user)
        refs = [m for m in messages if REF.search(m.text or "")]
        first_refs = {REF.search(m.text or "").group(0) for m in refs if m.text}  # type: ignore[union-attr]
        if len(first_refs) > 1:
            result.processed_twice += len(first_refs) - 1
            result.problems.append(f"reporter {user} got references of {len(first_refs)} cases")
        acknowledged |= first_refs
        if not refs:
            result.receipts_missing += 1
        texts = Counter(m.text for m in messages)
        for text, count in texts.items():
            if count > 1:
                if text and REF.search(text):
                    result.duplicate_receipts += count - 1
                else:
                    result.processed_twice += count - 1
                result.problems.append(f"reporter {user} got the same message {count} times")
    result.acknowledged = len(acknowledged)
    lost = acknowledged - stored
    result.lost = len(lost)
    if lost:
        result.problems.append(f"acknowledged but not stored: {sorted(lost)[:5]}")
    # Every report update must have made exactly one case (stored, or at least acknowledged).
    result.unprocessed = max(0, len(reporters) - len(stored | acknowledged))
    if len(stored) > len(reporters):
        result.processed_twice += len(stored) - len(reporters)
    if server.pending_updates:
        result.unprocessed += len(server.pending_updates)

    # Cards: one per case in the team room.
    card_refs: Counter[str] = Counter()
    for message in server.sent_messages(ROOM):
        if message.buttons() and (found := REF.search(message.text or "")):
            card_refs[found.group(0)] += 1
    result.duplicate_cards = sum(count - 1 for count in card_refs.values() if count > 1)
    result.cards_missing = len(stored - set(card_refs))

    # Pages: the same text to the same responder twice is a duplicate, unless explained.
    dropped = [
        (int(r.params.get("chat_id", 0)), r.at)
        for r in server.requests
        if r.method.lower() == "sendmessage" and r.response is None and r.status
    ]
    for responder in RESPONDERS:
        copies: dict[str | None, list[StoredMessage]] = {}
        for message in server.sent_messages(responder):
            copies.setdefault(message.text, []).append(message)
        for text, same in copies.items():
            if len(same) < 2:
                continue
            emergency = "EMERGENCY" in (text or "")
            for first in same[:-1]:
                after_fault = any(chat == responder and abs(at - first.sent_at) < 0.5 for chat, at in dropped)
                interrupted = any(kill - INTERRUPTED <= first.sent_at <= spawn for kill, spawn in kills)
                if emergency and (after_fault or interrupted):
                    result.explained_emergency_repeats += 1
                else:
                    result.duplicate_pages += 1
                    later = [round(m.sent_at - first.sent_at, 2) for m in same]
                    kill = min((k - first.sent_at for k, _ in kills), key=abs, default=None)
                    nearest = f"{kill:+.2f} s" if kill is not None else "none"
                    result.problems.append(
                        f"responder {responder} got {text!r:.40} {len(same)} times (at {later} s; "
                        f"the nearest kill {nearest} from the first)"
                    )


def table_rows(haven: CrashResult, baseline: CrashResult | None = None) -> list[tuple[str, str, str]]:
    """(what, Haven, baseline) rows for the results page."""
    rows = [
        ("rounds (SIGKILL each)", f"{haven.rounds}", "—"),
        ("reports filed / acknowledged", f"{haven.reports} / {haven.acknowledged}", "—"),
        ("acknowledged reports lost", f"{haven.lost}", "—"),
        ("report updates never processed", f"{haven.unprocessed}", "—"),
        ("updates processed twice", f"{haven.processed_twice}", "—"),
        (
            "duplicate receipts / cards / pages",
            f"{haven.duplicate_receipts} / {haven.duplicate_cards} / {haven.duplicate_pages}",
            "—",
        ),
    ]
    if baseline is not None:
        values = [
            f"{baseline.rounds}",
            f"{baseline.reports} / {baseline.acknowledged}",
            f"{baseline.lost}",
            f"{baseline.unprocessed}",
            f"{baseline.processed_twice}",
            f"{baseline.duplicate_receipts} / {baseline.duplicate_cards} / {baseline.duplicate_pages}",
        ]
        rows = [(what, ours, theirs) for (what, ours, _), theirs in zip(rows, values, strict=True)]
    return rows
