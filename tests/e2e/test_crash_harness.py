"""The crash harness, short: ``haven run`` killed with SIGKILL at random moments while reporters file.

``make bench`` runs the long version (200 rounds by default); this one runs a few rounds in ``make test``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import crash

pytestmark = [pytest.mark.telegram_server, pytest.mark.subprocess]


async def test_random_kills_lose_nothing_repeat_nothing_and_leave_the_database_intact(tmp_path: Path) -> None:
    result = await crash.run(crash.HavenBot(), tmp_path, rounds=4, seed=7)
    assert result.kills == 4
    assert result.reports >= 4
    assert result.problems == []
    assert result.lost == 0, "every acknowledged report is stored"
    assert result.unprocessed == 0 and result.processed_twice == 0
    assert (result.duplicate_receipts, result.duplicate_cards, result.duplicate_pages) == (0, 0, 0)
    assert result.integrity_failures == 0 and result.integrity_checks == 4
