"""The journey harness: every journey runs on every transport in ``tests.harness.FACTORIES``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import FACTORIES, Harness

#: Marks that select the tests needing a peer (see pyproject.toml).
MARKS = {"telegram": pytest.mark.telegram_server, "matrix": pytest.mark.homeserver}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in FACTORIES])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with FACTORIES[request.param](tmp_path) as built:
        yield built
