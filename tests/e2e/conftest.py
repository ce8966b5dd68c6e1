"""Fixtures of the end-to-end tests: one real Synapse for the whole session (tests marked homeserver)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from adapters.matrix.homeserver import LocalSynapse


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse() -> AsyncIterator[LocalSynapse]:
    """The session's Synapse on 127.0.0.1 (SQLite, relaxed rate limits), shared with the journeys."""
    from tests.matrix_harness import shared_synapse

    hs = await shared_synapse()
    yield hs
    await hs.stop()
