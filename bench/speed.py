"""The speed figures (P1-P7) and the throughput comparison with the baseline.

In-process figures build the bot from the same configuration file as ``haven run`` (``bot.bootstrap.build``,
the system clock, real SQLite with WAL and ``synchronous=FULL``) and run the fake Bot API server in the
same process and event loop: the fake's work is counted against the bot, so these figures are
pessimistic. Process figures run ``haven run`` as a child process with the fake in the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.scenario import (
    LIFTED,
    NO_LIMIT,
    TELEGRAM_LIMITS,
    UNLIMITED,
    BotLimits,
    BotProcess,
    SpaceSpec,
    add_people,
    add_reporter,
    haven_command,
    percentile,
    poll_until,
    query,
    report_text,
    wait_quiet,
    write_config,
)
from bot.bootstrap import build
from bot.clock import ManualClock
from bot.config import load
from bot.domain.ids import ChatAddress, Platform
from bot.domain.model import Lane
from bot.i18n import Catalogs
from bot.messages import Send
from bot.runtime import Haven
from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import FakeBotApi

Progress = Callable[[str], None]
REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass
class Figure:
    """One measured figure: samples (seconds, for latencies) and derived values."""

    values: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@asynccontextmanager
async def inprocess(
    folder: Path, server: FakeBotApi, spaces: Sequence[SpaceSpec], limits: BotLimits = BotLimits()
) -> AsyncIterator[Haven]:
    config = write_config(folder, server, spaces, limits=limits, log_level="WARNING")
    haven = build(load(config, languages=Catalogs().languages))
    await haven.start()
    try:
        yield haven
    finally:
        await haven.stop(drain=0.5)


def _ref(text: str | None) -> str | None:
    import re

    found = re.search(r"\b[2-9A-Z]{3}-[2-9A-Z]{3}\b", text or "")
    return found.group(0) if found else None


# --- P1: reporter's final message to the first page, at 25 new cases/s ---------------------------------


async def p1(folder: Path, *, seconds: float, rate: float = 25.0, spaces: int = 50) -> Figure:
    """50 spaces with two responders each; each reporter picks a space (``/start``), then files a quick
    report (``/report TEXT``, the final message). Clock: the fake queues the final message → the fake
    accepts the first page about that case to one of the space's responders."""
    specs = [SpaceSpec(f"s{i}", -1002000000000 - i, (30000 + 2 * i, 30001 + 2 * i)) for i in range(spaces)]
    # Telegram's per-chat limit; the global one as for bots with paid broadcasts (1000/s): 25 cases/s
    # make about 175 messages/s, beyond the default 30/s.
    limits = fake.RateLimits(private=fake.RateLimit(1, 1.0), group=None, global_=fake.RateLimit(1000, 1.0))
    count = int(seconds * rate)
    reporters = [800000 + n for n in range(count)]
    finals: dict[int, float] = {}
    async with FakeBotApi(rate_limits=limits) as server:
        await add_people(server, specs, reporters)
        bot_limits = BotLimits(global_per_second=1000, private_per_second=1, group_per_minute=NO_LIMIT)
        async with inprocess(folder, server, specs, bot_limits):
            start = time.monotonic() + 2.0
            lead = 1.0

            async def reporter(n: int, user: int) -> None:
                at = start + n / rate
                await asyncio.sleep(max(0.0, at - lead - time.monotonic()))
                await server.user_sends_text(user, f"/start {specs[n % spaces].id}")
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                finals[user] = time.monotonic()
                await server.user_sends_text(user, report_text(n))

            await asyncio.gather(*(reporter(n, user) for n, user in enumerate(reporters)))

            def paged() -> dict[str, float]:
                first: dict[str, float] = {}
                for spec in specs:
                    for responder in spec.responders:
                        for message in server.sent_messages(responder):
                            ref = _ref(message.text)
                            if ref and (ref not in first or message.sent_at < first[ref]):
                                first[ref] = message.sent_at
                return first

            def refs() -> dict[int, str]:
                found = {}
                for user in reporters:
                    for message in server.sent_messages(user):
                        if ref := _ref(message.text):
                            found[user] = ref
                            break
                return found

            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pages, receipts = paged(), refs()
                if len(receipts) == count and all(r in pages for r in receipts.values()):
                    break
                await asyncio.sleep(0.5)
    latencies = [pages[ref] - finals[user] for user, ref in receipts.items() if ref in pages]
    figure = Figure(samples={"latency": latencies})
    figure.values = {
        "cases": count,
        "paged": len(latencies),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")),
    }
    return figure


# --- P2: an emergency behind 1,000 queued conversation messages ------------------------------------------


async def p2(folder: Path, *, trials: int) -> Figure:
    """One space with ten responders; 200 people are owed 1,000 queued conversation messages, with
    Telegram's limits on both sides (30/s overall, 1/s per chat, 20/min per group). A reporter sends
    ``/emergency``. Clock: the fake queues it → the fake accepts the first / the tenth responder's page.
    The backlog is topped up to 1,000 before every trial."""
    responders = tuple(40001 + i for i in range(10))
    spec = SpaceSpec("camp", -1003000000000, responders)
    crowd = [500000 + i for i in range(200)]
    first: list[float] = []
    everyone: list[float] = []
    async with FakeBotApi(rate_limits=TELEGRAM_LIMITS) as server:
        await add_people(server, [spec], crowd)
        async with inprocess(folder, server, [spec]) as haven:
            sender = haven.senders[Platform("telegram")]
            queued = 0
            for trial in range(trials):
                backlog = sender.pending()
                async with haven.store.transaction() as tx:
                    for _ in range(max(0, 1000 - backlog)):
                        notice = Send(ChatAddress(f"telegram:{crowd[queued % len(crowd)]}"), f"Notice {queued}")
                        await tx.enqueue(f"bulk:{queued}", Lane.CONVERSATION, notice)
                        queued += 1
                sender.wake()
                await asyncio.sleep(1.5)  # the backlog leaves at the global limit
                reporter = 600000 + trial
                await add_reporter(server, reporter)
                started = time.monotonic()
                await server.user_sends_text(reporter, "/emergency")

                def pages(started: float = started, reporter: int = reporter) -> list[float]:
                    # The pages about this trial's case: its reference is in the reporter's receipt.
                    refs = [_ref(m.text) for m in server.sent_messages(reporter)]
                    ref = next((r for r in refs if r), None)
                    if ref is None:
                        return []
                    found = []
                    for responder in responders:
                        times = [
                            m.sent_at
                            for m in server.sent_messages(responder)
                            if m.sent_at >= started and "EMERGENCY" in (m.text or "") and ref in (m.text or "")
                        ]
                        if times:
                            found.append(min(times))
                    return found

                await server.wait_until(lambda: len(pages()) == len(responders), timeout=30, what="ten pages")
                arrived = pages()
                first.append(min(arrived) - started)
                everyone.append(max(arrived) - started)
                await asyncio.sleep(1.2)  # Telegram: one message per second per chat
            violations = server.rate_violations()
            retry_afters = len(server.rate_limited)
    figure = Figure(samples={"first": first, "all": everyone})
    figure.values = {
        "trials": trials,
        "first_p50": percentile(first, 50),
        "first_p99": percentile(first, 99),
        "all_p50": percentile(everyone, 50),
        "all_p99": percentile(everyone, 99),
        "violations": len(violations),
        "429s": retry_afters,
    }
    return figure


# --- seeding 10,000 open cases ----------------------------------------------------------------------------

SEED_SPACE = SpaceSpec("camp", -1004000000000, (50001, 50002, 50003))
SEED_REPORTERS = 900000


def _update(update_id: int, user: int, text: str, at: float) -> dict[str, Any]:
    person = {"id": user, "is_bot": False, "first_name": "Reporter", "language_code": "en"}
    chat = {"id": user, "type": "private", "first_name": "Reporter"}
    return {
        "update_id": update_id,
        "message": {"message_id": update_id, "from": person, "chat": chat, "date": int(at), "text": text},
    }


async def seed(folder: Path, cases: int, *, age: timedelta, progress: Progress | None = None) -> Path:
    """A database with ``cases`` open cases filed ``age`` ago through the real inbox and service (quick
    reports, one reporter each), their first pages and cards counted as delivered. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    async with FakeBotApi() as server:  # only its address goes into the configuration
        config = write_config(folder, server, [SEED_SPACE], log_level="WARNING")
    settings = load(config, languages=Catalogs().languages)
    clock = ManualClock(datetime.now(UTC) - age)
    haven = build(settings, clock=clock)
    await haven.store.open()
    try:
        for chunk in range(0, cases, 500):
            items = []
            for n in range(chunk, min(cases, chunk + 500)):
                update = _update(n + 1, SEED_REPORTERS + n, report_text(n), clock.now().timestamp())
                items.append((str(n + 1), update))
            await haven.store.record_inbound("telegram", items, ("telegram.offset", str(chunk + 501)))
            await haven.inbox.drain()
            clock.advance(timedelta(milliseconds=5 * len(items)))
            if progress:
                progress(f"seeded {min(cases, chunk + 500)} cases")
    finally:
        await haven.store.close()
    with contextlib.closing(sqlite3.connect(folder / "haven.db")) as db:
        db.execute("UPDATE outbox SET state = 'sent', payload = NULL, finished_at = ? WHERE state = 'pending'", (0,))
        db.commit()
    return folder


def copy_seed(seeded: Path, folder: Path, server: FakeBotApi) -> Path:
    """The seeded database and key in ``folder``, with a configuration pointing at ``server``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("haven.db", "master.key"):
        shutil.copy2(seeded / name, folder / name)
    return write_config(folder, server, [SEED_SPACE])


def _first_step_timers(database: Path) -> list[tuple[int, float]]:
    return [
        (int(r[0]), float(r[1]))
        for r in query(
            database,
            "SELECT id, due FROM timers WHERE kind = 'escalate' AND fired_at IS NULL AND cancelled = 0 "
            "AND data LIKE '%\"step\": 1%'",
        )
    ]


# --- P3: escalation lateness over 10,000 open cases ----------------------------------------------------------


async def p3(seeded: Path, folder: Path, *, window: float, lead: float = 20.0) -> Figure:
    """Every one of the 10,000 open cases has its next escalation step due within ``window`` seconds
    (uniformly spread, starting ``lead`` seconds from now, once the bot is up). Lateness: the step's
    due time → the commit of the transaction that fired it (its pages queued durably). Skipped: a step
    due in the window that never fired, or fired twice."""
    async with FakeBotApi(rate_limits=TELEGRAM_LIMITS) as server:
        await add_people(server, [SEED_SPACE])
        config = copy_seed(seeded, folder, server)
        database = folder / "haven.db"
        timers = _first_step_timers(database)
        begin = time.time() + lead
        rng = random.Random(3)
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.executemany(
                "UPDATE timers SET due = ? WHERE id = ?", [(begin + rng.uniform(0, window), t) for t, _ in timers]
            )
            db.commit()
        fired: dict[int, int] = {}
        lateness: list[float] = []
        haven = build(load(config, languages=Catalogs().languages))

        def on_fired(timer: Any, late: float) -> None:
            if timer.kind == "escalate" and timer.id in wanted:
                fired[timer.id] = fired.get(timer.id, 0) + 1
                lateness.append(time.time() - timer.due.timestamp())

        wanted = {t for t, _ in timers}
        haven.timers.on_fired = on_fired
        await haven.start()
        try:
            deadline = begin + window + 60
            while len(fired) < len(wanted) and time.time() < deadline:
                await asyncio.sleep(0.5)
        finally:
            await haven.stop(drain=0.5)
    skipped = len(wanted) - len(fired) + sum(1 for n in fired.values() if n > 1)
    figure = Figure(samples={"lateness": lateness})
    figure.values = {
        "steps": len(wanted),
        "window": window,
        "p50": percentile(lateness, 50),
        "p99": percentile(lateness, 99),
        "max": max(lateness, default=float("nan")),
        "skipped": skipped,
    }
    return figure


# --- P5: sustained inbound updates ------------------------------------------------------------------------

P5_MIX = (("/start", 0.2), ("/help", 0.25), ("/status", 0.2), ("hello, is anyone there?", 0.3), ("REPORT", 0.05))


async def p5(folder: Path, *, seconds: float, rate: float = 500.0, burst: int = 5000) -> Figure:
    """One space, Telegram's limits on both sides. Reporters send a mix of messages (20% /start, 25%
    /help, 20% /status, 30% free text, 5% quick reports that page three responders).

    The bot is a real ``haven run`` process, as in production; the fake Bot API server runs in this
    process, as Telegram runs elsewhere. Latency at ``rate`` updates/s for ``seconds``, read from the
    bot's database: handler = the update recorded in the inbox (``received_at``) → applied in the
    transaction that commits it (``processed_at``); end to end = the fake server queues it → applied.
    Throughput: ``burst`` updates queued at once; updates applied per second, first queued to last applied."""
    spec = SpaceSpec("camp", -1005000000000, (60001, 60002, 60003))
    rng = random.Random(5)
    users = [700000 + i for i in range(4000)]
    queued: dict[int, float] = {}
    async with FakeBotApi(rate_limits=TELEGRAM_LIMITS) as server:
        await add_people(server, [spec], users)
        config = write_config(folder, server, [spec])
        bot = BotProcess(haven_command(config), folder / "bot.log")
        await bot.start()
        database = folder / "haven.db"
        try:
            await bot.wait_ready()
            await asyncio.sleep(1.0)
            texts = [text for text, _ in P5_MIX]
            weights = [weight for _, weight in P5_MIX]

            async def send(n: int) -> None:
                text = rng.choices(texts, weights)[0]
                user = users[n % len(users)]
                await server.user_sends_text(user, report_text(n) if text == "REPORT" else text)
                queued[server._updates[-1].update_id] = time.time()

            # Latency at a steady rate.
            total = int(seconds * rate)
            begin = time.monotonic()
            for n in range(total):
                wait = begin + n / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await send(n)
            await _applied(database, len(queued))
            steady = dict(queued)
            # Throughput: a burst.
            queued.clear()
            first = time.time()
            for n in range(burst):
                await send(total + n)
                if n % 200 == 199:
                    await asyncio.sleep(0)
            await _applied(database, total + burst)
            rows = query(database, "SELECT external_id, received_at, processed_at FROM inbox WHERE source = 'telegram'")
        finally:
            await bot.terminate()
    applied = {int(external): (float(received), float(done)) for external, received, done in rows}
    handler = [applied[u][1] - applied[u][0] for u in steady]
    end_to_end = [applied[u][1] - at for u, at in steady.items()]
    last = max(applied[u][1] for u in queued)
    figure = Figure(samples={"handler": handler, "end_to_end": end_to_end})
    figure.values = {
        "rate": rate,
        "updates": total,
        "handler_p50": percentile(handler, 50),
        "handler_p99": percentile(handler, 99),
        "e2e_p50": percentile(end_to_end, 50),
        "e2e_p99": percentile(end_to_end, 99),
        "burst": burst,
        "throughput": burst / (last - first),
    }
    return figure


async def _applied(database: Path, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = query(database, "SELECT COUNT(*) FROM inbox WHERE source = 'telegram' AND processed_at IS NOT NULL")
        if done[0][0] >= count:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("updates were not applied")


# --- P5b: durable case commits/s against raw SQLite ------------------------------------------------------


def raw_sqlite_commits(folder: Path, seconds: float) -> float:
    """One small row per transaction, WAL and synchronous=FULL, as fast as the disk allows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "raw.db"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    blob = bytes(200)
    count, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (payload) VALUES (?)", (blob,))
        db.execute("COMMIT")
        count += 1
    elapsed = time.perf_counter() - begin
    db.close()
    return count / elapsed


async def case_commits(folder: Path, cases: int, *, batch: int | None = None) -> float:
    """Quick reports recorded in the inbox, then applied by the inbox processor: cases durably
    committed per second (each with its card, pages, timers and receipt queued in the same commit)."""
    async with FakeBotApi() as server:
        config = write_config(folder, server, [SEED_SPACE], log_level="WARNING")
    haven = build(load(config, languages=Catalogs().languages))
    if batch is not None:
        haven.inbox.batch = batch
    await haven.store.open()
    try:
        items = [(str(n + 1), _update(n + 1, SEED_REPORTERS + n, report_text(n), time.time())) for n in range(cases)]
        for chunk in range(0, cases, 500):
            await haven.store.record_inbound("telegram", items[chunk : chunk + 500])
        begin = time.perf_counter()
        await haven.inbox.drain()
        elapsed = time.perf_counter() - begin
    finally:
        await haven.store.close()
    return cases / elapsed


# --- P6: memory per open conversation ------------------------------------------------------------------


async def p6(folder: Path, *, conversations: int) -> Figure:
    """``haven run`` as a process. ``conversations`` reporters each start a guided report (``/report``),
    which leaves an open conversation with a draft. Memory: the process's resident set after they were
    all answered, minus before, divided by their number."""
    spec = SpaceSpec("camp", -1006000000000, (61001, 61002, 61003))
    users = [1_100_000 + i for i in range(conversations)]
    async with FakeBotApi(rate_limits=UNLIMITED) as server:
        await add_people(server, [spec], users)
        config = write_config(folder, server, [spec], limits=LIFTED)
        bot = BotProcess(haven_command(config), folder / "bot.log")
        await bot.start()
        try:
            await bot.wait_ready()
            await asyncio.sleep(3.0)
            before = bot.rss_kib()
            for n, user in enumerate(users):
                await server.user_sends_text(user, "/report")
                if n % 500 == 499:
                    await asyncio.sleep(0.5)
            await server.wait_until(lambda: not server.pending_updates, timeout=120, what="updates fetched")
            await wait_quiet(folder / "haven.db", timeout=300, timers_due=False)
            await asyncio.sleep(3.0)
            after = bot.rss_kib()
            peak = bot.peak_rss_kib()
            drafts = query(folder / "haven.db", "SELECT COUNT(*) FROM conversations WHERE has_draft = 1")[0][0]
        finally:
            await bot.terminate()
    figure = Figure()
    figure.values = {
        "conversations": drafts,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "peak_mib": peak / 1024,
        "kib_per_conversation": (after - before) / max(1, drafts),
    }
    return figure


# --- P7 and recovery: start with 10,000 open cases ------------------------------------------------------


async def p7(seeded: Path, folder: Path, *, runs: int) -> Figure:
    """``haven run`` as a process on a copy of the seeded database, whose 10,000 open cases all have an
    escalation step overdue (as after an outage). Ready: the ``ready`` log line, written once the store
    is open, migrations applied, the schedule rebuilt from the database and the transports started.
    Clocks start at the spawn of the process (Python's start and imports included)."""
    ready: list[float] = []
    first_page: list[float] = []
    all_fired: list[float] = []
    for run in range(runs):
        target = folder / f"run{run}"
        shutil.rmtree(target, ignore_errors=True)
        async with FakeBotApi(rate_limits=TELEGRAM_LIMITS) as server:
            await add_people(server, [SEED_SPACE])
            config = copy_seed(seeded, target, server)
            overdue = len(_first_step_timers(target / "haven.db"))
            bot = BotProcess(haven_command(config), target / "bot.log")
            spawned_wall = time.time()
            await bot.start()
            try:
                ready.append(await bot.wait_ready())

                def pages() -> list[float]:
                    return [
                        m.sent_at
                        for r in SEED_SPACE.responders
                        for m in server.sent_messages(r)
                        if "Still waiting" in (m.text or "")
                    ]

                await server.wait_until(lambda: bool(pages()), timeout=60, what="the first overdue page")
                first_page.append(min(pages()) - bot.started_at)
                database = target / "haven.db"
                deadline = time.monotonic() + 300
                while _first_step_timers(database) and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                last = query(
                    database,
                    "SELECT MAX(fired_at) FROM timers WHERE kind = 'escalate' AND data LIKE '%\"step\": 1%'",
                )[0][0]
                all_fired.append(float(last) - spawned_wall)
            finally:
                await bot.terminate()
    figure = Figure(samples={"ready": ready, "first_page": first_page})
    figure.values = {
        "open_cases": overdue,
        "ready_median": percentile(ready, 50),
        "first_page_median": percentile(first_page, 50),
        "all_overdue_fired_median": percentile(all_fired, 50),
        "runs": runs,
    }
    return figure


# --- the baseline's throughput -------------------------------------------------------------------------


async def quick_report_throughput(folder: Path, bot: str, reports: int) -> float:
    """``reports`` reporters each send ``/report TEXT`` at once; no rate limits on either side. Reports
    per second: the first report queued → the last receipt accepted by the fake."""
    from bench import crash

    users = [1_300_000 + i for i in range(reports)]
    async with FakeBotApi(rate_limits=UNLIMITED) as server:
        await add_people(server, [crash.SPACE], users)
        if bot == "haven":
            config = write_config(folder, server, [crash.SPACE], limits=LIFTED)
            command = haven_command(config)
        else:
            baseline = crash.BaselineBot()
            command = baseline.command(baseline.configure(folder, server))
        process = BotProcess(command, folder / "bot.log")
        await process.start()
        try:
            await process.wait_ready()
            await asyncio.sleep(1.0)
            begin = time.monotonic()
            for n, user in enumerate(users):
                await server.user_sends_text(user, report_text(n))

            def receipts() -> list[float]:
                times = []
                for user in users:
                    sent = [m.sent_at for m in server.sent_messages(user) if "stored safely" in (m.text or "")]
                    if sent:
                        times.append(min(sent))
                return times

            await poll_until(lambda: len(receipts()) == reports, timeout=600)
            last = max(receipts())
        finally:
            await process.terminate()
    return reports / (last - begin)


def dump(path: Path, figures: dict[str, Any]) -> None:
    path.write_text(json.dumps(figures, indent=2, default=float))
