"""A private, local Synapse homeserver run as a subprocess.

Used by the test suite and by ``haven demo``: it writes its own config into a data
directory, starts Synapse bound to 127.0.0.1 only, with federation and every outbound
network feature off, and offers the few admin calls Haven needs (shared-secret
registration, per-user rate-limit overrides).

Synapse lives in its own virtualenv (it pins dependencies that clash with ours), so it is
only ever run as ``<synapse python> -m synapse.app.homeserver -c <config>``; nothing here
imports Synapse.

Design notes:

* The config is written as JSON, which is valid YAML, so no YAML library is needed.
* The signing key is generated here (32 random bytes, the ed25519 seed format Synapse
  reads) instead of running ``--generate-keys`` in a second Synapse process, which costs
  about as much as a whole server start (~1.5-2 s of imports).
* Secrets (registration shared secret, macaroon key, form secret) live in files in the
  data directory, written once; restarting on the same directory reuses them, the
  signing key and the SQLite database.
* The process is a plain ``subprocess.Popen`` (not an asyncio subprocess), so the object
  is not tied to one event loop: a session-scoped pytest fixture may start it on one
  loop and tests may call it from another. On Linux the child gets ``PR_SET_PDEATHSIG``
  so it dies with us even if we are killed without running ``stop()``.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self

import aiohttp

RateLimitMode = Literal["relaxed", "default"]

SYNAPSE_PYTHON_ENV: Final = "HAVEN_SYNAPSE_PYTHON"
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_SYNAPSE_PYTHON: Final = _REPO_ROOT / ".venv-synapse" / "bin" / "python"

HARNESS_ADMIN_LOCALPART: Final = "haven-harness-admin"

# Generous enough that tests and the demo never hit a limit, finite so that a runaway
# loop still gets stopped eventually.
_RELAXED: Final[dict[str, float]] = {"per_second": 1000.0, "burst_count": 10000}

# Every rate limiter Synapse 1.163 reads from its config
# (synapse/config/ratelimiting.py). Only used in "relaxed" mode; "default" mode writes
# none of these, so Synapse's built-in defaults apply.
_RELAXED_RATE_LIMITS: Final[dict[str, Any]] = {
    "rc_message": _RELAXED,
    "rc_registration": _RELAXED,
    "rc_registration_token_validity": _RELAXED,
    "rc_login": {"address": _RELAXED, "account": _RELAXED, "failed_attempts": _RELAXED},
    "rc_admin_redaction": _RELAXED,
    "rc_joins": {"local": _RELAXED, "remote": _RELAXED},
    "rc_joins_per_room": _RELAXED,
    "rc_key_requests": _RELAXED,
    "rc_3pid_validation": _RELAXED,
    "rc_invites": {"per_room": _RELAXED, "per_user": _RELAXED, "per_issuer": _RELAXED},
    "rc_third_party_invite": _RELAXED,
    "rc_media_create": _RELAXED,
    "rc_presence": {"per_user": _RELAXED},
    "rc_delayed_event_mgmt": _RELAXED,
    "rc_room_creation": _RELAXED,
    "rc_reports": _RELAXED,
    "rc_user_directory": _RELAXED,
    "rc_profile": _RELAXED,
}

_LOG_FORMAT: Final = "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"


class HomeserverError(RuntimeError):
    """The local homeserver could not be set up, started or stopped."""


class HomeserverStartTimeout(HomeserverError):
    """Synapse did not answer ``/_matrix/client/versions`` in time."""


class MatrixApiError(HomeserverError):
    """A client-server or admin API call answered with an error."""

    def __init__(self, method: str, path: str, status: int, body: Mapping[str, Any]) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.errcode: str | None = body.get("errcode")
        self.error: str | None = body.get("error")
        self.body = dict(body)
        super().__init__(f"{method} {path} -> HTTP {status} {self.errcode or ''}: {self.error or body}")


class UserExistsError(MatrixApiError):
    """Registration failed because the user ID is already taken (``M_USER_IN_USE``)."""


class Registration(NamedTuple):
    """A logged-in device: unpacks as ``user_id, access_token, device_id``."""

    user_id: str
    access_token: str
    device_id: str


@dataclass(frozen=True)
class RateLimitOverride:
    """A per-user message rate-limit override as stored by Synapse.

    Synapse treats ``messages_per_second == 0`` as "not rate limited at all": not only
    for sending messages but for every rate limiter that checks the override table.
    """

    messages_per_second: int
    burst_count: int

    @property
    def exempt(self) -> bool:
        return self.messages_per_second == 0


def override_ratelimit_path(user_id: str) -> str:
    return f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id, safe='')}/override_ratelimit"


def override_ratelimit_curl(base_url: str, user_id: str) -> str:
    """The exact admin call that exempts ``user_id`` from rate limiting, for logs/docs."""
    url = base_url.rstrip("/") + override_ratelimit_path(user_id)
    return (
        "curl -X POST -H 'Authorization: Bearer <ADMIN_ACCESS_TOKEN>' "
        "-H 'Content-Type: application/json' "
        f"-d '{{\"messages_per_second\": 0, \"burst_count\": 0}}' '{url}'"
    )


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (there is an unavoidable small race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def default_synapse_python() -> Path:
    env = os.environ.get(SYNAPSE_PYTHON_ENV)
    return Path(env) if env else DEFAULT_SYNAPSE_PYTHON


def _unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (secrets, tokens, keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when we die (Linux only).

    Caveat of PR_SET_PDEATHSIG: it fires when the *thread* that forked exits, so start
    Synapse from a long-lived thread (the event loop's), not from a short-lived worker.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


class LocalSynapse:
    """One Synapse process on 127.0.0.1 with its state in ``data_dir``.

    Usage::

        async with LocalSynapse(tmp_path / "hs") as hs:
            alice = await hs.register("alice", "pw")

    ``start()`` may be called again after ``stop()``: same data directory, same port.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        server_name: str = "localhost",
        port: int | None = None,
        synapse_python: str | os.PathLike[str] | None = None,
        rate_limits: RateLimitMode = "relaxed",
        bcrypt_rounds: int = 4,
        start_timeout: float = 60.0,
        log_level: str = "INFO",
    ) -> None:
        """
        Args:
            data_dir: where config, keys, secrets, SQLite database, media and logs live.
                Created if missing; reused (same users and rooms) if it exists.
            server_name: the Matrix server name (the part after ``:`` in user IDs).
            port: HTTP port on 127.0.0.1; ``None`` picks a free one (kept for restarts).
            synapse_python: interpreter of the Synapse virtualenv; default: env
                ``HAVEN_SYNAPSE_PYTHON``, else ``<repo>/.venv-synapse/bin/python``.
            rate_limits: ``"relaxed"`` (tests, demo) or ``"default"`` (Synapse defaults).
            bcrypt_rounds: password hashing cost. Synapse's default (12) costs ~0.25 s per
                registration/login; 4 (bcrypt's minimum) is fine for a local, throwaway
                server.
            start_timeout: seconds ``start()`` waits for Synapse to answer.
            log_level: root log level of the Synapse log file.
        """
        if rate_limits not in ("relaxed", "default"):
            raise ValueError(f"rate_limits must be 'relaxed' or 'default', not {rate_limits!r}")
        self.data_dir = Path(data_dir).resolve()
        self._server_name = server_name
        self._port_given = port is not None
        self._port: int | None = port
        self.synapse_python = Path(synapse_python) if synapse_python else default_synapse_python()
        self.rate_limits: RateLimitMode = rate_limits
        self.bcrypt_rounds = bcrypt_rounds
        self.start_timeout = start_timeout
        self.log_level = log_level
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin_token: str | None = None
        self.last_start_seconds: float | None = None

    # ------------------------------------------------------------------ properties

    @property
    def server_name(self) -> str:
        return self._server_name

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = find_free_port()
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "homeserver.log"

    @property
    def stdout_path(self) -> Path:
        return self.data_dir / "synapse.stdout.log"

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / f"{self._server_name}.signing.key"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def registration_shared_secret(self) -> str:
        path = self._secret_path("registration_shared_secret")
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise HomeserverError(f"{path} is missing: call write_config() or start() first") from None

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self._server_name}"

    # ------------------------------------------------------------------ config

    _SECRETS: Final = ("registration_shared_secret", "macaroon_secret_key", "form_secret")

    def _secret_path(self, name: str) -> Path:
        return self.data_dir / name

    def _ensure_secrets(self) -> None:
        # Written once, kept across restarts (like the signing key and the database).
        for name in self._SECRETS:
            path = self._secret_path(name)
            if not path.exists():
                write_private(path, secrets.token_urlsafe(48) + "\n")

    def _ensure_signing_key(self) -> None:
        # Same format as Synapse's --generate-keys: "<alg> <key id> <unpadded b64 seed>";
        # an ed25519 private key is just a 32-byte random seed.
        if not self.signing_key_path.exists():
            key_id = "a_" + secrets.token_hex(2)
            write_private(self.signing_key_path, f"ed25519 {key_id} {_unpadded_b64(os.urandom(32))}\n")

    def homeserver_config(self) -> dict[str, Any]:
        """The Synapse config as a dict (what ``write_config`` writes)."""
        d = self.data_dir
        config: dict[str, Any] = {
            "server_name": self._server_name,
            "public_baseurl": self.base_url + "/",
            "pid_file": str(d / "homeserver.pid"),
            # Client API only (the admin API is mounted with it): no federation listener.
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(d / "log.config"),
            "media_store_path": str(d / "media_store"),
            "signing_key_path": str(self.signing_key_path),
            "registration_shared_secret_path": str(self._secret_path("registration_shared_secret")),
            "macaroon_secret_key_path": str(self._secret_path("macaroon_secret_key")),
            "form_secret_path": str(self._secret_path("form_secret")),
            "report_stats": False,
            # Registration: only through the shared-secret admin API.
            "enable_registration": False,
            "allow_guest_access": False,
            "bcrypt_rounds": self.bcrypt_rounds,
            # No federation, no key servers, nothing that talks to the outside.
            "federation_domain_whitelist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "allow_public_rooms_over_federation": False,
            "url_preview_enabled": False,
            "enable_3pid_lookup": False,
            "push": {"enabled": False},
            "presence": {"enabled": False},
            "enable_metrics": False,
            # Outbound HTTP from Synapse (federation, pushers, identity servers, previews)
            # goes through a blocklisting client: block every address.
            "ip_range_blacklist": ["0.0.0.0/0", "::/0"],
        }
        if self.rate_limits == "relaxed":
            config.update(_RELAXED_RATE_LIMITS)
        return config

    def log_config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "formatters": {"precise": {"format": _LOG_FORMAT}},
            "handlers": {
                # Unbuffered, so the tail is complete when start() fails.
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": self.log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def write_config(self) -> Path:
        """Write config, log config, secrets and signing key (if missing) to data_dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "media_store").mkdir(exist_ok=True)
        self._ensure_signing_key()
        self._ensure_secrets()
        # JSON is valid YAML.
        (self.data_dir / "log.config").write_text(json.dumps(self.log_config(), indent=2), encoding="utf-8")
        self.config_path.write_text(json.dumps(self.homeserver_config(), indent=2), encoding="utf-8")
        return self.config_path

    # ------------------------------------------------------------------ process

    def _spawn(self) -> None:
        if not self.synapse_python.exists():
            raise HomeserverError(
                f"Synapse interpreter not found at {self.synapse_python}; run `make synapse` "
                f"or set {SYNAPSE_PYTHON_ENV} to the python of a virtualenv with matrix-synapse"
            )
        self.write_config()
        with open(self.stdout_path, "ab") as out:
            self._proc = subprocess.Popen(
                [str(self.synapse_python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the demo's terminal goes to us, and we stop
                # Synapse in order; PDEATHSIG covers us dying without cleaning up.
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        atexit.register(self._kill_now)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the Synapse log and of its stdout/stderr, for error messages."""
        parts = []
        for path in (self.log_path, self.stdout_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                continue
            tail = text.splitlines()[-lines:]
            if tail:
                parts.append(f"--- last {len(tail)} lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) if parts else "(Synapse wrote no log)"

    async def _server_answers(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(
                self.base_url + "/_matrix/client/versions", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def start(self) -> None:
        """Start Synapse and wait until its client API answers."""
        if self.running:
            return
        for attempt in range(3):
            self._spawn()
            try:
                await self._wait_until_ready()
                return
            except HomeserverError:
                # A port picked by us can be taken between picking and binding.
                if not self._port_given and attempt < 2 and "Address already in use" in self.log_tail():
                    await self.stop()
                    self._port = None
                    continue
                await self.stop()
                raise

    async def _wait_until_ready(self) -> None:
        assert self._proc is not None
        started = time.monotonic()
        deadline = started + self.start_timeout
        async with aiohttp.ClientSession() as session:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise HomeserverError(
                        f"Synapse exited with code {code} during start-up "
                        f"(config {self.config_path}).\n{self.log_tail()}"
                    )
                if await self._server_answers(session):
                    self.last_start_seconds = time.monotonic() - started
                    return
                if time.monotonic() > deadline:
                    raise HomeserverStartTimeout(
                        f"Synapse did not answer {self.base_url}/_matrix/client/versions within "
                        f"{self.start_timeout:g} s (config {self.config_path}).\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds for a clean exit, then SIGKILL."""
        proc, self._proc = self._proc, None
        self._admin_token = None
        atexit.unregister(self._kill_now)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)

    def _kill_now(self) -> None:
        """Last-resort synchronous cleanup (atexit)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ HTTP

    async def request(
        self,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One client-server or admin API call; raises ``MatrixApiError`` on HTTP >= 400."""
        headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    method,
                    self.base_url + path,
                    headers=headers,
                    json=json_body,
                    params=params,
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as resp,
            ):
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    body = {"error": await resp.text()}
        except (aiohttp.ClientError, TimeoutError) as e:
            state = "running" if self.running else "not running"
            raise HomeserverError(f"{method} {path}: {self.base_url} unreachable (Synapse {state}): {e!r}") from e
        if not isinstance(body, dict):
            body = {"response": body}
        if status >= 400:
            if body.get("errcode") == "M_USER_IN_USE":
                raise UserExistsError(method, path, status, body)
            raise MatrixApiError(method, path, status, body)
        return body

    # ------------------------------------------------------------------ users

    async def _shared_secret_register(
        self,
        localpart: str,
        password: str,
        *,
        admin: bool,
        displayname: str | None,
        user_type: str | None,
        inhibit_login: bool,
        device_id: str | None,
        initial_device_display_name: str | None,
    ) -> dict[str, Any]:
        # https://element-hq.github.io/synapse/latest/admin_api/register_api.html
        path = "/_synapse/admin/v1/register"
        nonce: str = (await self.request("GET", path))["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf-8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        if user_type:
            mac.update(b"\x00")
            mac.update(user_type.encode("utf-8"))
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
            "inhibit_login": inhibit_login,
        }
        if displayname is not None:
            body["displayname"] = displayname
        if user_type:
            body["user_type"] = user_type
        if device_id is not None:
            body["device_id"] = device_id
        if initial_device_display_name is not None:
            body["initial_device_display_name"] = initial_device_display_name
        return await self.request("POST", path, json_body=body)

    async def register(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        *,
        displayname: str | None = None,
        user_type: str | None = None,
        device_id: str | None = None,
        initial_device_display_name: str | None = None,
        exist_ok: bool = False,
    ) -> Registration:
        """Create a user and log in one device.

        Returns ``(user_id, access_token, device_id)``. If the user exists:
        raises ``UserExistsError``, or with ``exist_ok=True`` logs in with ``password``
        instead (a new device unless ``device_id`` names an existing one; ``admin`` is
        then not changed).
        """
        try:
            result = await self._shared_secret_register(
                localpart,
                password,
                admin=admin,
                displayname=displayname,
                user_type=user_type,
                inhibit_login=False,
                device_id=device_id,
                initial_device_display_name=initial_device_display_name,
            )
        except UserExistsError:
            if not exist_ok:
                raise
            return await self.login(
                localpart,
                password,
                device_id=device_id,
                initial_device_display_name=initial_device_display_name,
            )
        return Registration(result["user_id"], result["access_token"], result["device_id"])

    async def create_user(
        self,
        localpart: str,
        password: str,
        admin: bool = False,
        *,
        displayname: str | None = None,
        user_type: str | None = None,
        exist_ok: bool = False,
    ) -> str:
        """Create a user without logging in any device (clients log in themselves).

        Returns the user ID. With ``exist_ok=True`` an existing user is not an error
        (its password and admin flag are left as they are).
        """
        try:
            result = await self._shared_secret_register(
                localpart,
                password,
                admin=admin,
                displayname=displayname,
                user_type=user_type,
                inhibit_login=True,
                device_id=None,
                initial_device_display_name=None,
            )
        except UserExistsError:
            if not exist_ok:
                raise
            return self.user_id(localpart)
        user_id: str = result["user_id"]
        return user_id

    async def login(
        self,
        user: str,
        password: str,
        *,
        device_id: str | None = None,
        initial_device_display_name: str | None = None,
    ) -> Registration:
        """Password login (``user`` is a localpart or a full user ID)."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        }
        if device_id is not None:
            body["device_id"] = device_id
        if initial_device_display_name is not None:
            body["initial_device_display_name"] = initial_device_display_name
        result = await self.request("POST", "/_matrix/client/v3/login", json_body=body)
        return Registration(result["user_id"], result["access_token"], result["device_id"])

    async def whoami(self, access_token: str) -> dict[str, Any]:
        return await self.request("GET", "/_matrix/client/v3/account/whoami", access_token=access_token)

    async def devices(self, access_token: str) -> list[dict[str, Any]]:
        """The devices of the token's user (``GET /_matrix/client/v3/devices``)."""
        result = await self.request("GET", "/_matrix/client/v3/devices", access_token=access_token)
        devices: list[dict[str, Any]] = result["devices"]
        return devices

    # ------------------------------------------------------------------ admin

    async def admin_token(self) -> str:
        """An access token of the harness's own admin user (created on first use).

        Its credentials are kept in ``data_dir/harness_admin.json`` so a restart on the
        same data directory reuses the same user and, while valid, the same token.
        """
        if self._admin_token is not None:
            return self._admin_token
        creds_path = self.data_dir / "harness_admin.json"
        creds: dict[str, str] = {}
        if creds_path.exists():
            creds = json.loads(creds_path.read_text(encoding="utf-8"))
            try:
                await self.whoami(creds["access_token"])
                self._admin_token = creds["access_token"]
                return self._admin_token
            except MatrixApiError as e:
                if e.status != 401:
                    raise
        password = creds.get("password") or secrets.token_urlsafe(24)
        reg = await self.register(
            HARNESS_ADMIN_LOCALPART,
            password,
            admin=True,
            displayname="Haven harness admin",
            initial_device_display_name="haven harness",
            exist_ok=True,
        )
        write_private(creds_path, json.dumps({"password": password, "access_token": reg.access_token}))
        self._admin_token = reg.access_token
        return reg.access_token

    async def override_ratelimit(
        self,
        user_id: str,
        messages_per_second: int = 0,
        burst_count: int = 0,
        *,
        admin_token: str | None = None,
    ) -> RateLimitOverride:
        """Set a per-user rate-limit override; the defaults (0, 0) exempt the user."""
        result = await self.request(
            "POST",
            override_ratelimit_path(user_id),
            access_token=admin_token or await self.admin_token(),
            json_body={"messages_per_second": messages_per_second, "burst_count": burst_count},
        )
        return RateLimitOverride(int(result["messages_per_second"]), int(result["burst_count"]))

    async def get_ratelimit_override(self, user_id: str, *, admin_token: str | None = None) -> RateLimitOverride | None:
        """The user's override, or None if Synapse's configured limits apply.

        Note: this is an admin API; a non-admin user cannot read its own override.
        """
        result = await self.request(
            "GET", override_ratelimit_path(user_id), access_token=admin_token or await self.admin_token()
        )
        if not result:
            return None
        return RateLimitOverride(int(result["messages_per_second"]), int(result["burst_count"]))

    async def delete_ratelimit_override(self, user_id: str, *, admin_token: str | None = None) -> None:
        await self.request(
            "DELETE", override_ratelimit_path(user_id), access_token=admin_token or await self.admin_token()
        )

    def override_ratelimit_curl(self, user_id: str) -> str:
        return override_ratelimit_curl(self.base_url, user_id)
