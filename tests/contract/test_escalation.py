"""The escalation engine with a manual clock, through the memory transport."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.memory.transport import MemoryTransport
from bot.clock import ManualClock
from bot.domain.ids import Identity
from bot.domain.rota import Rota, Shift
from bot.domain.space import HandlingPolicy, Space
from tests.conftest import demo_space
from tests.harness import MemoryHarness, memory_haven, reference_in

pytestmark = pytest.mark.asyncio

START = datetime(2027, 8, 1, 10, 0, tzinfo=UTC)  # 12:00 in Stockholm


def only_ana_on_call() -> Space:
    shift = Shift((Identity("memory:ana"),), datetime(2027, 8, 1, 0, 0), datetime(2027, 8, 3, 0, 0))
    return replace(demo_space(), rota=Rota("Europe/Stockholm", shifts=(shift,)))


def pages(h: MemoryHarness, who: str, ref: str) -> list[str]:
    return [t for t in h.received(who) if ref in t and ("New case" in t or "Still waiting" in t or "EMERGENCY" in t)]


async def file_quick(h: MemoryHarness, text: str = "Someone is shouting at people") -> str:
    await h.command("rita", "report", text)
    return reference_in(h.received("rita")[-2])


async def test_steps_fire_at_exactly_the_configured_times_then_repeat_until_acknowledged(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, only_ana_on_call(), clock=ManualClock(START)) as h:
        ref = await file_quick(h)
        counts = lambda: (len(pages(h, "ana", ref)), len(pages(h, "ben", ref)), len(pages(h, "cora", ref)))  # noqa: E731
        assert counts() == (1, 0, 0), "step 1 (0s): on call"
        await h.advance(timedelta(minutes=4, seconds=59))
        assert counts() == (1, 0, 0)
        await h.advance(timedelta(seconds=1))
        assert counts() == (2, 0, 0), "step 2 (5m): on call again"
        await h.advance(timedelta(minutes=5))
        assert counts() == (3, 1, 1), "step 3 (10m): the whole team"
        await h.advance(timedelta(minutes=5))
        assert counts() == (3, 1, 2), "step 4 (15m): coordinators"
        await h.advance(timedelta(minutes=15))
        assert counts() == (3, 1, 3), "repeat of the last step (30m)"
        await h.advance(timedelta(minutes=15))
        assert counts() == (3, 1, 4), "repeat (45m)"
        await h.command("ben", "ack", ref)
        await h.advance(timedelta(hours=2))
        assert counts() == (3, 1, 4), "acknowledging cancels every remaining step"
        history = h.haven.store.path
        raw = sqlite3.connect(history)
        steps = [row[0] for row in raw.execute("SELECT detail FROM case_events WHERE kind = 'paged' ORDER BY id")]
        raw.close()
        assert len(steps) == 6, "each escalation step is recorded in the case history"


async def test_a_restart_in_the_middle_of_a_policy_fires_the_rest_once(tmp_path: Path) -> None:
    clock = ManualClock(START)
    transport = MemoryTransport()
    async with memory_haven(tmp_path, only_ana_on_call(), clock=clock, transport=transport) as h:
        ref = await file_quick(h)
        await h.advance(timedelta(minutes=7))
    async with memory_haven(tmp_path, only_ana_on_call(), clock=clock, transport=transport) as h:
        await h.settle()
        assert len(pages(h, "ben", ref)) == 0, "step 3 is not due yet"
        await h.advance(timedelta(minutes=3))
        assert len(pages(h, "ben", ref)) == 1 and len(pages(h, "ana", ref)) == 3
    clock.advance(timedelta(minutes=6))  # down across the 15m step
    async with memory_haven(tmp_path, only_ana_on_call(), clock=clock, transport=transport) as h:
        await h.settle()
        await h.settle()
        assert len(pages(h, "cora", ref)) == 2, "the overdue coordinators step fired once"
        assert len(pages(h, "ana", ref)) == 3 and len(pages(h, "ben", ref)) == 1, "nothing fired twice"


async def test_repeats_that_piled_up_during_an_outage_are_coalesced(tmp_path: Path) -> None:
    clock = ManualClock(START)
    transport = MemoryTransport()
    async with memory_haven(tmp_path, only_ana_on_call(), clock=clock, transport=transport) as h:
        await h.command("rita", "sos")
        ref = reference_in(h.last("rita"))
        assert len(pages(h, "ana", ref)) == 1
    clock.advance(timedelta(minutes=30))
    async with memory_haven(tmp_path, only_ana_on_call(), clock=clock, transport=transport) as h:
        await h.settle()
        assert len(pages(h, "ana", ref)) == 2, "30 missed one-minute repeats become one page"
        await h.advance(timedelta(minutes=1))
        assert len(pages(h, "ana", ref)) == 3


async def test_an_acknowledged_case_nobody_takes_is_renotified(tmp_path: Path) -> None:
    space = replace(only_ana_on_call(), handling=HandlingPolicy(unclaimed_after=timedelta(minutes=10)))
    async with memory_haven(tmp_path, space, clock=ManualClock(START)) as h:
        ref = await file_quick(h)
        await h.command("ana", "ack", ref)
        await h.advance(timedelta(minutes=10))
        reminders = [t for t in h.received("ana") if "nobody has taken it yet" in t]
        assert len(reminders) == 1
        await h.advance(timedelta(minutes=10))
        assert len([t for t in h.received("ana") if "nobody has taken it yet" in t]) == 2
        await h.command("ana", "claim", ref)
        await h.advance(timedelta(minutes=30))
        assert len([t for t in h.received("ana") if "nobody has taken it yet" in t]) == 2


async def test_a_quiet_case_reminds_its_handlers(tmp_path: Path) -> None:
    space = replace(only_ana_on_call(), handling=HandlingPolicy(quiet_after=timedelta(hours=1)))
    async with memory_haven(tmp_path, space, clock=ManualClock(START)) as h:
        ref = await file_quick(h)
        await h.command("ana", "claim", ref)
        await h.advance(timedelta(minutes=40))
        await h.command("ana", "note", f"{ref} spoke with security")
        await h.advance(timedelta(minutes=40))
        assert not [t for t in h.received("ana") if "no update for a while" in t], "a note counts as an update"
        await h.advance(timedelta(minutes=21))
        assert len([t for t in h.received("ana") if "no update for a while" in t]) == 1


async def test_nobody_on_call_pages_the_team_and_coordinators_and_flags_the_hole(tmp_path: Path) -> None:
    space = replace(demo_space(), rota=Rota("Europe/Stockholm"))
    async with memory_haven(tmp_path, space, clock=ManualClock(START)) as h:
        ref = await file_quick(h)
        for who in ("ana", "ben", "cora"):
            assert pages(h, who, ref), who
        assert any("Please check the rota" in t for t in h.received("cora"))
        assert not any("Please check the rota" in t for t in h.received("ana"))


async def test_an_unreachable_responder_is_reported_and_the_next_step_paged_at_once(tmp_path: Path) -> None:
    transport = MemoryTransport()
    transport.unreachable["memory:ana"] = "has not started the bot"
    async with memory_haven(tmp_path, only_ana_on_call(), clock=ManualClock(START), transport=transport) as h:
        ref = await file_quick(h)
        await h.settle()
        warning = [t for t in h.received("cora") if "could not reach Ana" in t]
        assert warning and "has not started the bot" in warning[0] and ref in warning[0]
        assert pages(h, "ben", ref), "the next step (on call again, then the team) was paged without waiting"


async def test_incoming_responders_get_the_open_cases_at_their_shift_start(tmp_path: Path) -> None:
    rota = Rota(
        "Europe/Stockholm",
        shifts=(
            Shift((Identity("memory:ana"),), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 14)),
            Shift((Identity("memory:ben"),), datetime(2027, 8, 1, 14), datetime(2027, 8, 1, 22)),
        ),
    )
    async with memory_haven(tmp_path, replace(demo_space(), rota=rota), clock=ManualClock(START)) as h:
        ref = await file_quick(h)
        await h.advance(timedelta(hours=2))  # 14:00 in Stockholm
        handover = [t for t in h.received("ben") if "Your shift in Demo Camp starts now" in t]
        assert len(handover) == 1 and ref in handover[0]
        assert "R-" in handover[0] and "shouting" not in handover[0], "pseudonymised: no content"
        assert not [t for t in h.received("ana") if "starts now" in t]


async def test_retention_erases_closed_cases_but_keeps_their_counts(tmp_path: Path) -> None:
    space = replace(demo_space(), handling=HandlingPolicy(retention_days=30))
    async with memory_haven(tmp_path, space, clock=ManualClock(START)) as h:
        ref = await file_quick(h, "canary-retention-text")
        await h.command("ana", "claim", ref)
        await h.command("ana", "resolve", f"{ref} action-taken")
        await h.advance(timedelta(days=29))
        assert await h.haven.timers.purge() == 0
        await h.advance(timedelta(days=2))
        assert await h.haven.timers.purge() == 1
        async with h.haven.store.transaction() as tx:
            case = await tx.case(ref)  # type: ignore[arg-type]
        assert case is not None and case.content is None and case.outcome is not None
        assert await h.haven.timers.purge() == 0, "a purged case is not purged again"
