"""``haven run`` as a real process against the fake Bot API, killed with SIGKILL at the worst moment.

The update is recorded in the inbox before the getUpdates offset moves past it, so a kill right after
Telegram handed an update out loses nothing, and the restarted bot processes it exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.telegram import buttons
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeBotApi, StoredMessage

pytestmark = [pytest.mark.telegram_server, pytest.mark.subprocess]

REPO = Path(__file__).resolve().parents[2]
RITA, ANA, BEN, CORA = 5001, 2001, 2002, 2003
ROOM = -1001234567890


def configuration(folder: Path, server: FakeBotApi) -> Path:
    path = folder / "haven.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [storage]
            url = "sqlite:///{folder / "haven.db"}"
            master_key_file = "{folder / "master.key"}"

            [telegram]
            token = "{DEFAULT_TOKEN}"
            base_url = "{server.base_url}"
            poll_timeout = 5

            [operations]
            log_format = "text"
            log_level = "DEBUG"

            [[spaces]]
            id = "demo"
            name = "Demo Camp"
            team_room = "telegram:{ROOM}"
            coordinators = ["telegram:{CORA}"]

              [[spaces.responders]]
              id = "telegram:{ANA}"
              name = "Ana"

              [[spaces.responders]]
              id = "telegram:{BEN}"
              name = "Ben"

              [[spaces.responders]]
              id = "telegram:{CORA}"
              name = "Cora"
            """
        )
    )
    return path


async def run_bot(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--config",
            str(config),
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=output,
        )


def receipts(server: FakeBotApi) -> list[StoredMessage]:
    return [m for m in server.sent_messages(RITA) if "stored safely" in (m.text or "")]


def cards(server: FakeBotApi) -> list[StoredMessage]:
    keys = [[(buttons.parse(d) or (None, "", ""))[2] for d in m.callback_data()] for m in server.sent_messages(ROOM)]
    return [
        m for m, found in zip(server.sent_messages(ROOM), keys, strict=True) if any(k.startswith("ack:") for k in found)
    ]


async def test_a_kill_right_after_an_update_was_handed_out_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    async with FakeBotApi(DEFAULT_TOKEN) as server:
        for user, name in ((RITA, "Rita"), (ANA, "Ana"), (BEN, "Ben"), (CORA, "Cora")):
            await server.add_user(user, name)
            server.users[user].started = True
        await server.add_group(ROOM, "Team", is_forum=True, members=[ANA, BEN, CORA])
        config, log = configuration(tmp_path, server), tmp_path / "bot.log"

        first = await run_bot(config, log)
        await server.wait_until(lambda: server.get_updates_calls >= 1, timeout=20, what="the bot to poll")
        await server.user_sends_text(RITA, "/report A man keeps touching people at the bar")
        [update] = server.pending_updates
        await server.wait_until(lambda: update["update_id"] in server.delivered_update_ids, timeout=10)
        first.send_signal(signal.SIGKILL)  # as soon as Telegram handed the update out
        assert await first.wait() == -signal.SIGKILL
        handed_out_before = server.delivered_update_ids.count(update["update_id"])

        second = await run_bot(config, log)
        try:
            await server.wait_until(lambda: len(receipts(server)) >= 1 and len(cards(server)) >= 1, timeout=20)
            await server.wait_until(
                lambda: any("A few more answers" in (m.text or "") for m in server.sent_messages(RITA)), timeout=10
            )
            await asyncio.sleep(1.5)  # room for a duplicate to show up, if there were one
        finally:
            second.send_signal(signal.SIGTERM)
            exit_code = await asyncio.wait_for(second.wait(), timeout=20)

    assert len(receipts(server)) == 1, "exactly one receipt"
    assert len(cards(server)) == 1 and len(server.topics(ROOM)) == 1, "exactly one card"
    assert exit_code == 0, "SIGTERM drains and exits 0"
    assert handed_out_before >= 1
    output = log.read_text()
    assert DEFAULT_TOKEN not in output and DEFAULT_TOKEN.split(":")[1] not in output, "the token never reaches a log"
    assert "touching" not in output and str(RITA) not in output, "no report content or identities in logs"
