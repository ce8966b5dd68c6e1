"""Every command × every role × own and other space (issue 8): refusals reveal nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain.ids import ChatAddress, Identity, SpaceId
from bot.domain.model import Person
from tests.conftest import demo_space
from tests.contract.test_journeys import guided_report
from tests.harness import MemoryHarness, memory_haven

pytestmark = pytest.mark.asyncio

NOT_TEAM = "This command is for the response team."
NOT_COORDINATOR = "This command is for the space's coordinators."
RESPONDER = [
    "ack {ref}",
    "claim {ref}",
    "join {ref}",
    "leave {ref}",
    "reply {ref} hello",
    "note {ref} hello",
    "resolve {ref} no-action",
    "reopen {ref}",
    "cases",
    "oncall",
    "newreport",
]
COORDINATOR = [
    "team list",
    "invite Dana",
    "rota show",
    "override Ana now 1h",
    "policy show",
    "contacts",
    "codeword",
    "ban list",
    "pause",
    "resume",
    "stats",
    "export",
    "audit",
    "related {ref}",
    "block R-2345",
    "unblock R-2345",
]


@pytest.fixture
async def two_spaces(tmp_path: Path) -> AsyncIterator[tuple[MemoryHarness, str]]:
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
        yield h, await guided_report(h)


async def answer(h: MemoryHarness, who: str, command: str, ref: str) -> str:
    name, _, args = command.format(ref=ref).partition(" ")
    before = len(h.received(who))
    await h.command(who, name, args)
    new = h.received(who)[before:]
    return new[0] if new else ""


@pytest.mark.parametrize("command", RESPONDER)
async def test_responder_commands(two_spaces: tuple[MemoryHarness, str], command: str) -> None:
    h, ref = two_spaces
    for who in ("mallory", "rita"):
        assert await answer(h, who, command, ref) == NOT_TEAM, (who, command)
        assert await answer(h, who, command, "ZZZ-ZZZ") == NOT_TEAM, "the same refusal, whether the case exists or not"
    for who in ("ana", "cora"):
        reply = await answer(h, who, command, ref)
        assert reply not in (NOT_TEAM, NOT_COORDINATOR) and "do not know a case" not in reply, (who, command, reply)
    olga = await answer(h, "olga", command, ref)
    assert ref not in olga or "do not know a case" in olga, (command, olga)


@pytest.mark.parametrize("command", COORDINATOR)
async def test_coordinator_commands(two_spaces: tuple[MemoryHarness, str], command: str) -> None:
    h, ref = two_spaces
    for who in ("mallory", "rita", "ana"):
        assert await answer(h, who, command, ref) == NOT_COORDINATOR, (who, command)
    cora = await answer(h, "cora", command, ref)
    assert cora not in (NOT_TEAM, NOT_COORDINATOR), (command, cora)
    olga = await answer(h, "olga", command, ref)
    assert "Demo Camp" not in olga and (ref not in olga or "do not know a case" in olga), (command, olga)
