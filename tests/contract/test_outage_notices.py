"""When a platform stays unreachable, coordinators are told on the other platform, once; and when it is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.memory.transport import MemoryTransport
from bot.bootstrap import assemble, open_store
from bot.clock import ManualClock
from bot.domain.ids import Identity, Platform
from bot.domain.model import Person
from bot.watchdog import Watchdog
from tests.conftest import demo_space
from tests.harness import MASTER_KEY


async def test_coordinators_hear_on_the_other_platform_that_one_is_down_and_back(tmp_path: Path) -> None:
    memory = MemoryTransport()
    telegram = MemoryTransport()
    telegram.platform = Platform("telegram")  # a second platform, recorded in memory
    cora = Person((Identity("memory:cora"), Identity("telegram:333")), "Cora", ("en",))
    space = demo_space()
    space = demo_space(responders=(*space.responders[:2], cora))
    store = open_store(tmp_path / "haven.db", MASTER_KEY, ManualClock())
    haven = assemble([space], store, [memory, telegram])
    now = [datetime.now(UTC)]
    watchdog = Watchdog(haven, outage_notice_after=timedelta(minutes=5), wall=lambda: now[0])
    await haven.start()
    try:
        watchdog.started = now[0]
        telegram.last_contact = now[0] - timedelta(minutes=4)
        await watchdog.check_platforms()
        await haven.settle()
        assert memory.texts("memory:cora") == [], "4 minutes without contact is not an outage yet"

        telegram.last_contact = now[0] - timedelta(minutes=7)
        await watchdog.check_platforms()
        await watchdog.check_platforms()
        await haven.settle()
        told = memory.texts("memory:cora")
        assert len(told) == 1, told
        assert "Haven has not reached Telegram for 7 minutes" in told[0]
        assert telegram.texts("telegram:333") == [], "nobody is told on the platform that is down"

        now[0] += timedelta(minutes=1)
        telegram.last_contact = now[0]
        await watchdog.check_platforms()
        await haven.settle()
        assert "Haven reaches Telegram again" in memory.last("memory:cora").text  # type: ignore[union-attr]
        assert len(memory.texts("memory:cora")) == 2
        assert memory.texts("memory:ana") == [], "only coordinators are told"
    finally:
        await haven.stop(drain=0.5)


async def test_an_outage_with_no_other_platform_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    memory = MemoryTransport()
    store = open_store(tmp_path / "haven.db", MASTER_KEY, ManualClock())
    haven = assemble([demo_space()], store, [memory])
    now = datetime.now(UTC)
    watchdog = Watchdog(haven, outage_notice_after=timedelta(minutes=5), wall=lambda: now)
    await haven.start()
    try:
        memory.last_contact = now - timedelta(minutes=6)
        await watchdog.check_platforms()
        await haven.settle()
        assert memory.sent == []
        assert "no coordinator can be told on another platform" in caplog.text
        assert "platform unreachable" in caplog.text
    finally:
        await haven.stop(drain=0.5)
