"""``/healthz`` and ``/metrics`` on a loopback address.

The HTTP server runs in its own thread, so it still answers when the event loop does not: a blocked
loop is reported as unhealthy instead of as a hanging request. Haven is healthy when

* the event loop ran its heartbeat recently (within ``stall_after``) and answers a request from here,
* the store takes a small write (a read-only file system, a full disk or a stuck lock fail it),
* every enabled platform answered a poll or sync within ``poll_stale_after``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import Metrics
from bot.runtime import Haven
from bot.store import monitoring
from bot.watchdog import LoopWatch

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


class Health:
    def __init__(
        self,
        haven: Haven,
        watch: LoopWatch,
        *,
        poll_stale_after: timedelta,
        probe_timeout: float = 3.0,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.haven = haven
        self.watch = watch
        self.poll_stale_after = poll_stale_after
        self.probe_timeout = probe_timeout
        self.wall = wall
        self.started = wall()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.started = self.wall()

    # --- on the event loop -----------------------------------------------------------------------

    async def store_check(self) -> Check:
        try:
            await asyncio.wait_for(monitoring.probe_write(self.haven.store, self.haven.clock.now()), self.probe_timeout)
        except TimeoutError:
            return Check("store", False, f"a write did not finish within {self.probe_timeout:g} s")
        except Exception as error:
            return Check("store", False, f"cannot write: {type(error).__name__}: {error}")
        return Check("store", True, "writable")

    async def evaluate(self) -> list[Check]:
        """Every check, from the event loop (which is evidently running)."""
        return [Check("event_loop", True, "responsive"), await self.store_check(), *self.platform_checks()]

    async def healthy(self) -> bool:
        return all(check.ok for check in await self.evaluate())

    # --- from any thread ---------------------------------------------------------------------------

    def platform_checks(self) -> list[Check]:
        now = self.wall()
        bound = self.poll_stale_after.total_seconds()
        checks = []
        for platform, transport in sorted(self.haven.transports.items()):
            last = transport.last_contact
            if last is None:
                waited = (now - self.started).total_seconds()
                ok = waited <= bound
                detail = "starting: no answer yet" if ok else f"no answer since the start {waited:.0f} s ago"
            else:
                age = (now - last).total_seconds()
                ok = age <= bound
                detail = f"last answered {age:.0f} s ago" + ("" if ok else f" (more than {bound:g} s)")
            checks.append(Check(f"platform:{platform}", ok, detail))
        return checks

    def check(self) -> list[Check]:
        """Every check, from the HTTP thread: never waits longer than the probe timeout."""
        stalled = self.watch.age()
        if self.loop is None or not self.haven.ready.is_set():
            return [Check("event_loop", False, "starting"), *self.platform_checks()]
        if stalled > self.watch.stall_after:
            return [
                Check("event_loop", False, f"blocked: no heartbeat for {stalled:.1f} s"),
                Check("store", False, "not checked while the event loop is blocked"),
                *self.platform_checks(),
            ]
        future = asyncio.run_coroutine_threadsafe(self.store_check(), self.loop)
        try:
            store = future.result(timeout=self.probe_timeout + 0.5)
        except TimeoutError:
            future.cancel()
            return [
                Check("event_loop", False, f"did not answer within {self.probe_timeout + 0.5:g} s"),
                Check("store", False, "not checked while the event loop is blocked"),
                *self.platform_checks(),
            ]
        return [Check("event_loop", True, "responsive"), store, *self.platform_checks()]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: a monitor polls every few seconds."""


class HealthServer:
    """Serves ``/healthz`` (200 or 503, JSON) and ``/metrics`` (Prometheus text) from a thread."""

    def __init__(self, address: str, health: Health, metrics: Metrics, *, refresh_timeout: float = 2.0) -> None:
        host, _, port = address.rpartition(":")
        self.host = host.strip("[]")
        self.requested_port = int(port)
        self.health = health
        self.metrics = metrics
        self.refresh_timeout = refresh_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self.requested_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        family = socket.getaddrinfo(self.host, self.requested_port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("_FamilyServer", (_Server,), {"address_family": family})
        self._server = make_server(self.host, self.requested_port, self.app, server_class, _QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="haven-health", daemon=True)
        self._thread.start()
        log.info("health and metrics are served", extra={"address": self.url})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._reply(start_response, "405 Method Not Allowed", b"GET only\n", "text/plain")
        if path == "/healthz":
            checks = self.health.check()
            ok = all(check.ok for check in checks)
            body = {"status": "ok" if ok else "unhealthy", "checks": [asdict(check) for check in checks]}
            return self._reply(
                start_response,
                "200 OK" if ok else "503 Service Unavailable",
                json.dumps(body, ensure_ascii=False).encode() + b"\n",
                "application/json",
            )
        if path == "/metrics":
            self._refresh()
            return self._reply(start_response, "200 OK", generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        return self._reply(start_response, "404 Not Found", b"try /healthz or /metrics\n", "text/plain")

    def _refresh(self) -> None:
        """Read fresh counts on the event loop; if it does not answer in time, serve the last ones."""
        loop = self.health.loop
        if loop is None or self.health.watch.age() > self.health.watch.stall_after:
            return
        future = asyncio.run_coroutine_threadsafe(self.metrics.refresh(), loop)
        try:
            future.result(timeout=self.refresh_timeout)
        except TimeoutError:
            future.cancel()
        except Exception:
            log.exception("reading metrics from the store failed")

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
