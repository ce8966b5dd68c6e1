"""The Matrix transport refuses to start rather than run without working encryption (no network)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import adapters.matrix.transport as matrix_transport
from adapters.matrix.transport import MatrixStartError, MatrixTransport
from bot.config import MatrixSettings
from bot.domain.ids import ChatAddress


class NoSink:
    async def record(
        self, source: str, items: Sequence[tuple[str, Mapping[str, Any]]], cursor: tuple[str, str] | None = None
    ) -> int:
        raise AssertionError("nothing may be recorded")

    async def recall(self, name: str) -> str | None:
        return None

    async def remember(self, name: str, value: str) -> None:
        raise AssertionError("nothing may be remembered")


def settings(tmp_path: Path, **changes: Any) -> MatrixSettings:
    values: dict[str, Any] = {
        "homeserver": "https://matrix.example.org",
        "user_id": "@haven:example.org",
        "store_path": tmp_path / "store",
        "password": "pw",
        "team_rooms": ("!team:example.org",),
    }
    return MatrixSettings(**(values | changes))


async def test_no_start_without_end_to_end_encryption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix_transport, "ENCRYPTION_ENABLED", False)
    with pytest.raises(MatrixStartError, match=r"matrix-nio\[e2e\]"):
        await MatrixTransport(settings(tmp_path)).start(NoSink())


async def test_no_start_when_the_saved_device_lost_its_keys(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    saved = {"homeserver": "https://matrix.example.org", "user_id": "@haven:example.org", "device_id": "DEV"}
    (store / "credentials.json").write_text(json.dumps(saved | {"access_token": "syt_x"}))
    transport = MatrixTransport(settings(tmp_path, password=None, access_token="syt_x"))
    with pytest.raises(MatrixStartError, match="keys of the saved device are missing"):
        await transport.start(NoSink())


async def test_the_store_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix_transport, "ENCRYPTION_ENABLED", True)
    transport = MatrixTransport(settings(tmp_path, password=None, access_token=None))
    with pytest.raises(MatrixStartError, match="neither a password nor an access token"):
        await transport.start(NoSink())
    assert (tmp_path / "store").stat().st_mode & 0o777 == 0o700


def test_team_rooms_are_groups_and_people_are_not(tmp_path: Path) -> None:
    transport = MatrixTransport(settings(tmp_path))
    assert transport.is_group(ChatAddress("matrix:!team:example.org"))
    assert not transport.is_group(ChatAddress("matrix:@ana:example.org"))
    assert transport.limits.max_text > 0
