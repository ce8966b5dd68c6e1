"""Health, metrics and the watchdog over real HTTP on 127.0.0.1, around a Haven on the memory transport."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.config import OperationsSettings
from bot.operations import Operations
from tests.conftest import demo_space
from tests.harness import MemoryHarness, memory_haven, reference_in


def get(url: str) -> tuple[int, str]:
    """A plain HTTP GET from a thread, as a monitor would do it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def healthz(ops: Operations) -> tuple[int, dict[str, bool]]:
    assert ops.server is not None
    status, body = await asyncio.to_thread(get, f"{ops.server.url}/healthz")
    checks = {check["name"]: check["ok"] for check in json.loads(body)["checks"]}
    return status, checks


@asynccontextmanager
async def operated(tmp_path: Path, **settings: object) -> AsyncIterator[tuple[MemoryHarness, Operations]]:
    values: dict[str, object] = {"health_address": "127.0.0.1:0", "stall_after": timedelta(seconds=1)}
    values.update(settings)
    async with memory_haven(tmp_path, demo_space()) as harness:
        ops = Operations(harness.haven, OperationsSettings(**values))  # type: ignore[arg-type]
        await ops.start()
        try:
            yield harness, ops
        finally:
            await ops.stop()


async def test_healthz_is_up_when_everything_answers(tmp_path: Path) -> None:
    async with operated(tmp_path) as (_, ops):
        status, checks = await healthz(ops)
        assert status == 200
        assert checks == {"event_loop": True, "store": True, "platform:memory": True}


async def test_healthz_fails_while_the_store_is_read_only_and_recovers(tmp_path: Path) -> None:
    async with operated(tmp_path) as (h, ops):
        # SQLite's own switch: every write now fails with "attempt to write a readonly database",
        # as it does on a file system remounted read-only. (Root ignores file modes, so chmod cannot.)
        await h.haven.store.db.execute("PRAGMA query_only = ON")
        status, checks = await healthz(ops)
        assert status == 503
        assert checks["store"] is False and checks["event_loop"] is True
        await h.haven.store.db.execute("PRAGMA query_only = OFF")
        status, checks = await healthz(ops)
        assert status == 200 and checks["store"] is True


async def test_healthz_fails_while_the_event_loop_is_blocked_and_logs_its_stack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.watchdog")
    async with operated(tmp_path) as (_, ops):
        assert ops.server is not None
        url = f"{ops.server.url}/healthz"
        during: list[tuple[int, str]] = []
        asked = threading.Thread(target=lambda: (time.sleep(1.6), during.append(get(url))))
        asked.start()
        time.sleep(2.5)  # noqa: ASYNC251 -- blocks the event loop on purpose: nothing else runs on it meanwhile
        await asyncio.to_thread(asked.join)
        status, body = during[0]
        assert status == 503, body
        loop_check = next(c for c in json.loads(body)["checks"] if c["name"] == "event_loop")
        assert loop_check["ok"] is False and "blocked" in loop_check["detail"]
        stalls = [r for r in caplog.records if r.getMessage() == "event loop stalled"]
        assert len(stalls) == 1
        stack = stalls[0].stack  # type: ignore[attr-defined]
        assert "test_healthz_fails_while_the_event_loop_is_blocked" in stack and "time.sleep(2.5)" in stack
        await asyncio.sleep(0.6)
        assert await healthz(ops) == (200, {"event_loop": True, "store": True, "platform:memory": True})
        assert any(r.getMessage() == "event loop recovered" for r in caplog.records)


async def test_healthz_fails_when_a_platform_poll_is_stale_and_recovers(tmp_path: Path) -> None:
    async with operated(tmp_path, poll_stale_after=timedelta(minutes=2)) as (h, ops):
        h.transport.last_contact = datetime.now(UTC) - timedelta(minutes=3)
        status, checks = await healthz(ops)
        assert status == 503
        assert checks == {"event_loop": True, "store": True, "platform:memory": False}
        h.transport.last_contact = datetime.now(UTC)
        assert (await healthz(ops))[0] == 200


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def test_metrics_after_a_scripted_session(tmp_path: Path) -> None:
    async with operated(tmp_path) as (h, ops):
        await h.command("rita", "report", "Someone keeps following me around the venue")
        normal = reference_in(h.received("rita")[-2])
        await h.advance(timedelta(minutes=2))
        await h.command("ana", "ack", normal)
        await h.command("sam", "emergency")
        emergency = reference_in("\n".join(t for t in h.received("ana") if "EMERGENCY" in t))
        await h.advance(timedelta(seconds=30))
        await h.command("ben", "ack", emergency)
        await h.command("tom", "report", "Someone is shouting at people near the bar")
        await h.advance(timedelta(minutes=6))  # the next escalation step of Tom's case fires
        await h.transport.receive({"kind": "undecryptable", "chat": "memory:uma", "sender": "memory:uma"})
        await h.settle()
        assert ops.server is not None
        status, text = await asyncio.to_thread(get, f"{ops.server.url}/metrics")
    assert status == 200
    found = samples(text)
    assert value(found, "haven_open_cases", space="demo", urgency="normal", state="acknowledged") == 1
    assert value(found, "haven_open_cases", space="demo", urgency="emergency", state="acknowledged") == 1
    assert value(found, "haven_open_cases", space="demo", urgency="normal", state="open") == 1
    assert value(found, "haven_open_cases", space="demo", urgency="high", state="open") == 0
    for lane in ("emergency", "page", "conversation", "bulk"):
        assert value(found, "haven_outbox_depth", platform="memory", lane=lane) == 0
        assert value(found, "haven_outbox_oldest_age_seconds", platform="memory", lane=lane) == 0
    assert value(found, "haven_page_latency_seconds_count", platform="memory", lane="emergency") >= 1
    assert value(found, "haven_page_latency_seconds_count", platform="memory", lane="page") >= 1
    assert value(found, "haven_time_to_acknowledge_seconds_count", urgency="normal") == 1
    assert value(found, "haven_time_to_acknowledge_seconds_sum", urgency="normal") == 120
    assert value(found, "haven_time_to_acknowledge_seconds_count", urgency="emergency") == 1
    assert value(found, "haven_time_to_acknowledge_seconds_sum", urgency="emergency") == 30
    assert value(found, "haven_escalation_lateness_seconds_count") >= 1
    assert value(found, "haven_inbound_pending", platform="memory") == 0
    assert value(found, "haven_inbound_lag_seconds", platform="memory") == 0
    assert value(found, "haven_decrypt_failures_total", platform="memory") == 1
    assert 0 <= value(found, "haven_platform_contact_age_seconds", platform="memory") < 60
    assert value(found, "haven_event_loop_heartbeat_age_seconds") < 1
    assert value(found, "haven_event_loop_stalls_total") == 0
    for forbidden in ("rita", "following", "shouting", normal, emergency):
        assert forbidden not in text, "metrics carry numbers, never people, content or references"


async def test_metrics_show_a_queue_that_does_not_drain(tmp_path: Path) -> None:
    async with operated(tmp_path) as (h, ops):
        await h.haven.senders["memory"].stop(drain=0)  # the platform stopped taking messages
        await h.transport.say("memory:rita", "/report My bag was stolen")
        await h.haven.inbox.drain()
        h.clock.advance(timedelta(minutes=1))
        assert ops.server is not None
        _, text = await asyncio.to_thread(get, f"{ops.server.url}/metrics")
    found = samples(text)
    assert value(found, "haven_outbox_depth", platform="memory", lane="page") >= 1
    assert value(found, "haven_outbox_oldest_age_seconds", platform="memory", lane="page") >= 60


async def test_the_dead_mans_switch_is_pinged_only_while_healthy(tmp_path: Path) -> None:
    pings: list[float] = []

    async def ping(request: web.Request) -> web.Response:
        pings.append(time.monotonic())
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/ping/haven", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/ping/haven"
        async with operated(tmp_path, deadman_url=url, deadman_every=timedelta(seconds=10)) as (h, ops):
            for _ in range(100):  # the watchdog pings once at start, then every deadman_every
                if pings:
                    break
                await asyncio.sleep(0.05)
            assert len(pings) == 1
            await h.haven.store.db.execute("PRAGMA query_only = ON")
            await ops.watchdog.ping()
            assert len(pings) == 1, "an unhealthy Haven stays silent, so the monitor raises the alarm"
            await h.haven.store.db.execute("PRAGMA query_only = OFF")
            await ops.watchdog.ping()
            assert len(pings) == 2
            _, text = await asyncio.to_thread(get, f"{ops.server.url}/metrics")  # type: ignore[union-attr]
        found = samples(text)
        assert value(found, "haven_deadman_pings_total", result="skipped") == 1
        assert value(found, "haven_deadman_pings_total", result="ok") == 2
    finally:
        await runner.cleanup()


async def test_haven_keeps_running_when_the_health_port_is_taken(tmp_path: Path) -> None:
    async with operated(tmp_path) as (_, first):
        assert first.server is not None
        async with operated(tmp_path / "second", health_address=f"127.0.0.1:{first.server.port}") as (other, ops):
            assert ops.server is None
            await other.command("rita", "report", "Someone is shouting at people")
            assert any("stored safely" in t for t in other.received("rita"))
