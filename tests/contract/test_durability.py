"""What survives a restart, and what is never done twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory.transport import MemoryTransport
from bot.clock import ManualClock
from bot.domain.model import Lane
from bot.messages import DeliveryResult, Outgoing, Rejected
from bot.service import ServiceSettings
from tests.conftest import demo_space
from tests.harness import memory_haven, reference_in

pytestmark = pytest.mark.asyncio


async def test_a_draft_continues_where_it_stopped_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    async with memory_haven(tmp_path, demo_space(), clock=clock) as first:
        await first.command("rita", "report")
        await first.choose("rita", "No")
        await first.choose("rita", "It happened to me")
        await first.choose("rita", "Doxing, privacy or account compromise")
        await first.say("rita", "Since Monday, online")
    async with memory_haven(tmp_path, demo_space(), clock=clock) as second:
        await second.say("rita", "An account called @watcher")
        assert second.last("rita").startswith("What happened?")
        await second.say("rita", "They posted my home address")
        await second.choose("rita", "✔ Done")
        await second.choose("rita", "Anyone on duty")
        await second.choose("rita", "Yes, contact me here, but keep me anonymous")
        assert "Since Monday, online" in second.last("rita"), "the summary holds the answers from before the restart"
        await second.choose("rita", "✔ Send report")
        ref = reference_in(second.last("rita"))
        await second.command("ana", "claim", ref)
        details = second.last("ana")
        assert "They posted my home address" in details and "@watcher" in details


async def test_buttons_sent_before_a_restart_still_work(tmp_path: Path) -> None:
    clock = ManualClock()
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as first:
        await first.command("rita", "report")
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as second:
        await second.choose("rita", "No")
        assert second.last("rita") == "What best describes you?"


async def test_an_update_recorded_twice_is_processed_once(tmp_path: Path) -> None:
    async with memory_haven(tmp_path, demo_space()) as h:
        payload = {
            "kind": "text",
            "chat": "memory:rita",
            "sender": "memory:rita",
            "text": "/report Someone stole my laptop",
            "lang": "en",
        }
        assert await h.haven.sink.record("memory", [("update-7", payload)]) == 1
        assert await h.haven.sink.record("memory", [("update-7", payload)]) == 0
        await h.settle()
        assert await h.haven.sink.record("memory", [("update-7", payload)]) == 0, "still deduplicated after processing"
        await h.settle()
        receipts = [t for t in h.received("rita") if "stored safely" in t]
        assert len(receipts) == 1
        assert len(h.card_texts()) == 1


async def test_an_update_recorded_before_a_crash_is_processed_after_the_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as first:
        await first.haven.inbox.stop()  # the process dies after recording, before processing
        payload = {
            "kind": "text",
            "chat": "memory:rita",
            "sender": "memory:rita",
            "text": "/report Broken glass at the stage",
            "lang": "en",
        }
        await first.haven.sink.record("memory", [("u1", payload)])
        first.haven.inbox.drain = _nothing  # type: ignore[method-assign]
    assert not transport.texts("memory:rita")
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as second:
        await second.settle()
        assert len([t for t in second.received("rita") if "stored safely" in t]) == 1


async def _nothing() -> int:
    return 0


async def test_an_unfinished_draft_is_reminded_once_then_expires(tmp_path: Path) -> None:
    settings = ServiceSettings(draft_remind_after=timedelta(hours=1), draft_expire_after=timedelta(hours=6))
    async with memory_haven(tmp_path, demo_space(), settings=settings) as h:
        await h.command("rita", "report")
        await h.choose("rita", "No")
        await h.advance(timedelta(minutes=59))
        await h.haven.timers.sweep()
        assert h.last("rita") == "What best describes you?"
        await h.advance(timedelta(minutes=2))
        await h.haven.timers.sweep()
        await h.settle()
        assert "You have an unfinished report" in h.last("rita")
        await h.advance(timedelta(hours=1))
        await h.haven.timers.sweep()
        await h.settle()
        assert len([t for t in h.received("rita") if "unfinished report" in t]) == 1, "reminded once"
        await h.advance(timedelta(hours=5))
        await h.haven.timers.sweep()
        await h.settle()
        assert "was deleted because it was not sent in time" in h.last("rita")
        await h.command("rita", "report")
        assert h.last("rita") == "Is anyone in danger right now?", (
            "a fresh report starts; nothing of the old draft remains"
        )


async def test_escalation_continues_after_a_restart_without_repeating_steps(tmp_path: Path) -> None:
    clock = ManualClock()
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as first:
        await first.command("rita", "report", "Someone is shouting at people")
        ref = reference_in(first.received("rita")[-2])
        first_pages = len(transport.texts("memory:ana"))
    clock.advance(timedelta(minutes=12))  # the process was down while steps 2 (5m) and 3 (10m) came due
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as second:
        await second.settle()
        pages = [t for t in transport.texts("memory:ana")[first_pages:] if ref in t]
        assert len(pages) == 2, pages
        await second.settle()
        assert len([t for t in transport.texts("memory:ana")[first_pages:] if ref in t]) == 2


async def test_a_message_the_platform_refuses_is_not_retried_and_does_not_block_the_chat(tmp_path: Path) -> None:
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), transport=transport) as h:
        transport.scripted.append(Rejected("Bad Request: can't parse entities"))
        await h.command("rita", "help")
        assert h.received("rita") == [], "the refused message was not delivered"
        counts = await h.haven.store.outbox_counts()
        assert counts.get(("memory", int(Lane.CONVERSATION), "rejected")) == 1
        await h.command("rita", "status")
        assert len(h.received("rita")) == 1, "the next message to the chat goes out; the refused one is not resent"


async def test_after_an_interrupted_send_only_emergency_pages_are_sent_again(tmp_path: Path) -> None:
    """A kill while messages were on their way: their fate is unknown. Emergency pages to people go
    again (at least once); the reporter's receipt and the card do not (a duplicate helps nobody)."""
    clock = ManualClock()
    transport = MemoryTransport()
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as first:
        await first.haven.senders["memory"].stop(drain=0)
        await first.transport.say("memory:rita", "/emergency", lang="en")
        await first.haven.inbox.drain()
        async with first.haven.store.transaction():
            await first.haven.store.db.execute("UPDATE outbox SET state = 'sending' WHERE state = 'pending'")
    assert transport.sent == []
    async with memory_haven(tmp_path, demo_space(), clock=clock, transport=transport) as second:
        await second.settle()
        for responder in ("ana", "ben", "cora"):
            assert len([t for t in second.received(responder) if "EMERGENCY" in t]) == 1, "the page went again"
        assert second.received("rita") == [], "the receipt may have arrived: not sent twice"
        assert second.card_texts() == [], "the card may have been posted: not posted twice"


class _SlowTransport(MemoryTransport):
    """Each delivery takes a while, so more work can arrive while a message is on its way."""

    async def deliver(self, item: Outgoing) -> DeliveryResult:
        await asyncio.sleep(0.2)
        return await super().deliver(item)


async def test_an_emergency_arriving_while_a_page_is_on_its_way_does_not_send_that_page_twice(tmp_path: Path) -> None:
    """Found by the crash harness: sorting the emergency ahead moved the page in flight back into the
    queue, and it left a second time."""
    transport = _SlowTransport()
    async with memory_haven(tmp_path, demo_space(), transport=transport) as h:
        await h.transport.say("memory:rita", "/report Someone is shouting at people", lang="en")
        await h.haven.inbox.drain()
        await asyncio.sleep(0.05)  # the first page to Ana is on its way
        await h.transport.say("memory:tom", "/emergency", lang="en")
        await h.settle()
        texts = h.received("ana")
        assert len(texts) == len(set(texts)), texts
        assert any("EMERGENCY" in t for t in texts) and any("New case" in t for t in texts)
