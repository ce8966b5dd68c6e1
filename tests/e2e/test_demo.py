"""The embedded default (SPEC 8), run the way people run it: ``haven demo`` as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.homeserver, pytest.mark.subprocess]

HAVEN = [sys.executable, "-m", "bot.cli", "demo"]


def port_is_closed(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_walkthrough_plays_a_report_and_an_emergency_and_cleans_up() -> None:
    done = subprocess.run([*HAVEN, "--walkthrough"], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for expected in (
        "=== 1. A quick report",
        "Rita → Haven: !report A man keeps grabbing people at the bar",
        "=== 2. A guided report",
        "Haven → team room: 🟡",
        "=== 3. An emergency",
        "Haven → Ana: 🔴 EMERGENCY",
        "Ana → team room: reacts ✅",
        "Haven edits the card in the team room",
        "has seen your emergency report",
        "The walkthrough is complete.",
    ):
        assert expected in out, f"missing from the walkthrough: {expected!r}"
    assert len(set(re.findall(r"reference is ([2-9A-Z]{3}-[2-9A-Z]{3})", out))) == 2
    url = re.search(r"homeserver runs at (http://127\.0\.0\.1:\d+)", out)
    assert url and port_is_closed(url.group(1)), "the homeserver was stopped"
    assert "password" not in out.lower()


def start_demo(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "HAVEN_DEMO_DIR": str(data)}
    process = subprocess.Popen(HAVEN, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C to stop." in line:
            return process, "".join(lines)
    process.kill()
    raise AssertionError(f"the demo did not start (exit code {process.poll()})")


def stop_demo(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0


def test_the_demo_sets_everything_up_prints_how_to_log_in_and_reuses_its_data(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    process, printout = start_demo(data)
    try:
        url = re.search(r"Homeserver: (http://127\.0\.0\.1:\d+)", printout)
        assert url is not None
        for role in ("reporter", "responder", "coordinator"):
            assert re.search(rf"{role}\s+@\w+:localhost\s+password: \S+", printout), f"no {role} login"
        assert "The bot: @haven:localhost" in printout
    finally:
        stop_demo(process)
    assert port_is_closed(url.group(1)), "the homeserver stopped with the demo"
    state = json.loads((data / "demo.json").read_text())
    assert (data / "haven.db").exists() and (data / "bot" / "credentials.json").exists()
    assert oct((data / "demo.json").stat().st_mode & 0o777) == "0o600"

    process, again = start_demo(data)
    stop_demo(process)
    assert json.loads((data / "demo.json").read_text()) == state, "same accounts, room and port"
    assert printout.split("Accounts:")[1] == again.split("Accounts:")[1]
    bot_devices = list((data / "bot").glob("*.db"))
    assert len(bot_devices) == 1, "the bot logged in once and restored its device the second time"
