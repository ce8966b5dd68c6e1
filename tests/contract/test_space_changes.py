"""Coordinator changes survive restarts; a later edit of the file wins; spaces stay apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory.transport import MemoryTransport
from bot.clock import ManualClock
from bot.domain.ids import ChatAddress, Identity, SpaceId
from bot.domain.model import Person
from tests.conftest import demo_space
from tests.contract.test_journeys import guided_report
from tests.harness import memory_haven

pytestmark = pytest.mark.asyncio


async def test_changes_survive_a_restart_until_the_file_changes(tmp_path: Path) -> None:
    clock = ManualClock()
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as h:
        await h.command("cora", "team", 'add memory:dana "Dana" en')
        await h.command("cora", "policy", "set high 0s:team repeat 2m")
    clock.advance(timedelta(minutes=5))
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as h:
        await h.command("cora", "team", "list")
        assert "Dana (en)" in h.last("cora") and "changed by Cora" in h.last("cora")
        await h.command("cora", "policy", "show")
        assert "high: 0s → team; repeat every 2m (changed by Cora" in h.last("cora")
    clock.advance(timedelta(minutes=5))
    edited = demo_space()
    edited = replace(edited, responders=(*edited.responders, Person((Identity("memory:finn"),), "Finn", ("en",))))
    async with memory_haven(tmp_path, edited, clock=clock, transport=transport) as h:
        await h.command("cora", "team", "list")
        listing = h.last("cora")
        assert "Finn (en)" in listing and "Dana" not in listing, "the file changed after the command: the file wins"
        assert "(from the configuration file)" in listing
        await h.command("cora", "policy", "show")
        assert "high: 0s → team; repeat every 2m (changed by Cora" in h.last("cora"), (
            "an unchanged file key keeps the command's value"
        )


async def test_a_responder_never_sees_cases_of_another_space(tmp_path: Path) -> None:
    other = replace(
        demo_space(),
        id=SpaceId("other"),
        name="Other Meetup",
        team_rooms=(ChatAddress("memory:!other"),),
        responders=(Person((Identity("memory:olga"),), "Olga", ("en",)),),
        coordinators=(Identity("memory:olga"),),
        code_word=None,
    )
    async with memory_haven(tmp_path, demo_space(), others=(other,)) as h:
        await h.command("rita", "start", "demo")
        ref = await guided_report(h)
        for command in ("ack", "claim", "note", "resolve"):
            await h.command("olga", command, f"{ref} action-taken")
            assert h.last("olga") == f"I do not know a case {ref} that you can see."
        await h.command("olga", "cases")
        assert ref not in h.last("olga")
        await h.command("olga", "audit", ref)
        assert "case.filed" not in h.last("olga") or ref not in h.last("olga")
