"""Configuration: one TOML file (SPEC 3.3) parsed into typed, frozen settings.

Every problem is collected, not just the first: each names the file, the key, what is wrong and how
to fix it. Secrets may come from the environment instead of the file (SPEC 3.2).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.durations import DurationError, parse_duration
from bot.domain.ids import SPACE_ID, ChatAddress, Identity, SpaceId, is_valid_address, native_id, platform_of
from bot.domain.model import Person, Urgency
from bot.domain.rota import Rota, Shift, WeeklyShift, parse_weekdays
from bot.domain.space import (
    DEFAULT_POLICIES,
    ContactKind,
    EscalationPolicy,
    EscalationStep,
    HandlingPolicy,
    Space,
    Target,
)
from bot.ports import RateLimits

T = TypeVar("T")
#: Synapse's defaults are per user; once the bot is exempt (see docs/operations.md) these are ours.
MATRIX_LIMITS = RateLimits(global_per_second=10.0, private_per_second=5.0, group_per_minute=120.0, max_text=16000)
MAX_STEP_DELAY = timedelta(hours=24)
MIN_REPEAT = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    key: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.what}\n    fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the configuration")
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    url: str
    path: Path
    master_key_file: Path


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    token: str = field(repr=False)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    poll_timeout: int = 30
    limits: RateLimits = field(default_factory=RateLimits)
    #: The spaces' team rooms on Telegram (filled from [[spaces]]; the adapter sets their command menus).
    team_rooms: tuple[ChatAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class MatrixSettings:
    homeserver: str
    user_id: str
    store_path: Path
    password: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    device_name: str = "Haven"
    limits: RateLimits = field(default_factory=lambda: MATRIX_LIMITS)
    #: Native ids of the spaces' Matrix team rooms: the only group rooms the bot joins.
    team_rooms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportingSettings:
    max_text: int = 4000
    draft_remind_after: timedelta = timedelta(hours=1)
    draft_expire_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class OperationsSettings:
    health_address: str | None = None
    log_format: str = "json"
    log_level: str = "INFO"
    deadman_url: str | None = None
    deadman_every: timedelta = timedelta(minutes=1)
    #: The event loop counts as stalled (health fails, a stack dump is logged) after this long.
    stall_after: timedelta = timedelta(seconds=5)
    #: A platform that has not answered a poll or sync for this long makes /healthz fail.
    poll_stale_after: timedelta = timedelta(minutes=2)
    #: ... and after this long, coordinators are told on the other platform (if one is configured).
    outage_notice_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Settings:
    source: str
    storage: StorageSettings
    spaces: tuple[Space, ...]
    telegram: TelegramSettings | None = None
    matrix: MatrixSettings | None = None
    reporting: ReportingSettings = ReportingSettings()
    operations: OperationsSettings = OperationsSettings()

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(name for name, section in (("telegram", self.telegram), ("matrix", self.matrix)) if section)


# --- reading -----------------------------------------------------------------------------------------


class _Reader:
    """Walks a TOML table, records problems, and flags keys nobody asked for."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, key: str, what: str, fix: str) -> None:
        self.problems.append(Problem(self.file, key, what, fix))

    def table(self, data: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
        for key in data:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"known keys here: {', '.join(known)}"
                self.problem(f"{path}.{key}" if path else key, "unknown key", f"remove it or rename it ({hint})")

    def get(
        self,
        data: Mapping[str, Any],
        path: str,
        key: str,
        kind: type[T] | tuple[type, ...],
        default: T | None = None,
        *,
        required: bool = False,
        example: str = "",
    ) -> T | None:
        full = f"{path}.{key}" if path else key
        if key not in data:
            if required:
                self.problem(full, "is missing", f"add it, for example: {key} = {example}" if example else "add it")
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.problem(
                full, f"{value!r} is a boolean", f"write a {_names(kinds)}" + (f", e.g. {example}" if example else "")
            )
            return default
        if not isinstance(value, kinds):
            self.problem(
                full,
                f"{value!r} is a {type(value).__name__}, not a {_names(kinds)}",
                f"write a {_names(kinds)}" + (f", for example: {key} = {example}" if example else ""),
            )
            return default
        return value  # type: ignore[return-value]

    def duration(
        self,
        data: Mapping[str, Any],
        path: str,
        key: str,
        default: timedelta,
        *,
        minimum: timedelta = timedelta(0),
        maximum: timedelta = timedelta(days=3650),
    ) -> timedelta:
        raw = self.get(data, path, key, str, example='"5m"')
        if raw is None:
            return default
        full = f"{path}.{key}"
        try:
            value = parse_duration(raw)
        except DurationError:
            self.problem(full, f"{raw!r} is not a duration", 'write a number and a unit: "90s", "5m", "2h" or "1d"')
            return default
        if value < minimum or value > maximum:
            self.problem(
                full,
                f"{raw!r} is out of range",
                f"use a duration between {_human(minimum)} and {_human(maximum)}",
            )
            return default
        return value

    def string_list(self, data: Mapping[str, Any], path: str, key: str, *, example: str = "") -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{path}.{key}", "must be a list of strings", f"write for example: {key} = {example or '[]'}")
            return []
        return list(value)


def _names(kinds: tuple[type, ...]) -> str:
    names = {str: "string", int: "number", float: "number", bool: "true or false", list: "list", dict: "table"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- sections ----------------------------------------------------------------------------------------


def _storage(r: _Reader, data: Mapping[str, Any], base: Path, env: Mapping[str, str]) -> StorageSettings | None:
    if not isinstance(data, Mapping):
        r.problem("storage", "must be a table", 'write [storage] with url = "sqlite:////var/lib/haven/haven.db"')
        return None
    r.table(data, "storage", ("url", "master_key_file"))
    url = r.get(data, "storage", "url", str, required=True, example='"sqlite:////var/lib/haven/haven.db"')
    path: Path | None = None
    if url is not None:
        if url.startswith("sqlite:///"):
            rest = url[len("sqlite:///") :]
            if not rest:
                r.problem("storage.url", "names no database file", 'write "sqlite:////var/lib/haven/haven.db"')
            else:
                path = Path(rest) if rest.startswith("/") else base / rest
        elif url.startswith(("postgresql://", "postgres://")):
            r.problem(
                "storage.url",
                "PostgreSQL is not supported by this version yet",
                'use SQLite: url = "sqlite:////var/lib/haven/haven.db"',
            )
        else:
            r.problem("storage.url", f"{url!r} is not a supported database URL", 'write "sqlite:////path/to/haven.db"')
    key_file = env.get("HAVEN_MASTER_KEY_FILE") or r.get(data, "storage", "master_key_file", str)
    if path is None:
        return None
    master = Path(key_file) if key_file else path.parent / "master.key"
    if not master.is_absolute():
        master = base / master
    return StorageSettings(url=url or "", path=path, master_key_file=master)


def _limits(r: _Reader, data: Mapping[str, Any], path: str, base: RateLimits) -> RateLimits:
    values: dict[str, float | None] = {}
    for key in ("global_per_second", "private_per_second", "group_per_minute"):
        value = r.get(data, path, key, (int, float))
        if value is not None and value <= 0:
            r.problem(f"{path}.{key}", "must be greater than 0", "remove the key to use the platform's limit")
            value = None
        values[key] = float(value) if value is not None else getattr(base, key)
    return RateLimits(
        global_per_second=values["global_per_second"],
        private_per_second=values["private_per_second"],
        group_per_minute=values["group_per_minute"],
        max_text=base.max_text,
    )


def _telegram(r: _Reader, data: Any, env: Mapping[str, str]) -> TelegramSettings | None:
    if not isinstance(data, Mapping):
        r.problem("telegram", "must be a table", "write [telegram] with token = ...")
        return None
    r.table(
        data,
        "telegram",
        (
            "token",
            "base_url",
            "base_file_url",
            "poll_timeout",
            "global_per_second",
            "private_per_second",
            "group_per_minute",
        ),
    )
    token = env.get("HAVEN_TELEGRAM_TOKEN") or r.get(data, "telegram", "token", str)
    if not token:
        r.problem(
            "telegram.token", "is missing", 'set the HAVEN_TELEGRAM_TOKEN environment variable or add token = "…"'
        )
    elif not re.fullmatch(r"\d+:[\w-]{10,}", token):
        r.problem(
            "telegram.token", "does not look like a bot token", "copy the token BotFather gave you: 123456:ABC-DEF…"
        )
    base_url = r.get(data, "telegram", "base_url", str, "https://api.telegram.org/bot") or ""
    if not re.match(r"^https?://", base_url):
        r.problem("telegram.base_url", f"{base_url!r} is not an http(s) URL", 'write "https://api.telegram.org/bot"')
    default_file = base_url[: -len("/bot")] + "/file/bot" if base_url.endswith("/bot") else base_url + "/file"
    base_file_url = r.get(data, "telegram", "base_file_url", str, default_file) or default_file
    poll = r.get(data, "telegram", "poll_timeout", int, 30) or 30
    if not 0 <= poll <= 60:
        r.problem("telegram.poll_timeout", f"{poll} is out of range", "use a number of seconds from 0 to 60")
    limits = _limits(r, data, "telegram", RateLimits())
    return TelegramSettings(token or "", base_url, base_file_url, poll, limits)


def _matrix(r: _Reader, data: Any, base: Path, env: Mapping[str, str]) -> MatrixSettings | None:
    if not isinstance(data, Mapping):
        r.problem("matrix", "must be a table", "write [matrix] with homeserver, user_id, password and store_path")
        return None
    r.table(
        data,
        "matrix",
        (
            "homeserver",
            "user_id",
            "password",
            "access_token",
            "store_path",
            "device_name",
            "global_per_second",
            "private_per_second",
            "group_per_minute",
        ),
    )
    homeserver = r.get(data, "matrix", "homeserver", str, required=True, example='"https://matrix.example.org"')
    if homeserver and not re.match(r"^https?://", homeserver):
        r.problem("matrix.homeserver", f"{homeserver!r} is not an http(s) URL", 'write "https://matrix.example.org"')
    user_id = r.get(data, "matrix", "user_id", str, required=True, example='"@haven:example.org"')
    if user_id and not re.fullmatch(r"@[^:\s]+:\S+", user_id):
        r.problem("matrix.user_id", f"{user_id!r} is not a Matrix user id", 'write it as "@haven:example.org"')
    password = env.get("HAVEN_MATRIX_PASSWORD") or r.get(data, "matrix", "password", str)
    token = env.get("HAVEN_MATRIX_ACCESS_TOKEN") or r.get(data, "matrix", "access_token", str)
    store = r.get(data, "matrix", "store_path", str, required=True, example='"/var/lib/haven/matrix"')
    if not password and not token:
        r.problem(
            "matrix.password",
            "neither a password nor an access token is given",
            'set HAVEN_MATRIX_PASSWORD (or HAVEN_MATRIX_ACCESS_TOKEN), or add password = "…"',
        )
    device = r.get(data, "matrix", "device_name", str, "Haven") or "Haven"
    limits = _limits(r, data, "matrix", MATRIX_LIMITS)
    if not homeserver or not user_id or not store:
        return None
    store_path = Path(store) if Path(store).is_absolute() else base / store
    return MatrixSettings(homeserver, user_id, store_path, password, token, device, limits)


SPACE_KEYS = (
    "id",
    "name",
    "timezone",
    "languages",
    "team_language",
    "team_room",
    "coordinators",
    "code_word",
    "emergency_contacts",
    "contacts",
    "responders",
    "rota",
    "escalation",
    "policy",
)


def _space(r: _Reader, data: Any, index: int, platforms: tuple[str, ...], languages: tuple[str, ...]) -> Space | None:
    path = f"spaces[{index}]"
    if not isinstance(data, Mapping):
        r.problem(path, "must be a table", "write [[spaces]] followed by id = … and name = …")
        return None
    r.table(data, path, SPACE_KEYS)
    space_id = r.get(data, path, "id", str, required=True, example='"wikimania"')
    if space_id is not None and not SPACE_ID.match(space_id):
        r.problem(
            f"{path}.id", f"{space_id!r} is not a valid space id", 'use 1 to 32 of a-z, 0-9 and -, e.g. "wikimania"'
        )
    name = r.get(data, path, "name", str, required=True, example='"Wikimania 2027"')
    timezone = r.get(data, path, "timezone", str, "UTC") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        r.problem(f"{path}.timezone", f"{timezone!r} is not a time zone", 'use an IANA name such as "Europe/Stockholm"')
        timezone = "UTC"
    offered = r.string_list(data, path, "languages", example='["en", "sv"]') or ["en"]
    for language in offered:
        if language not in languages:
            r.problem(
                f"{path}.languages",
                f"there is no catalog for {language!r}",
                f"use codes of shipped catalogs: {', '.join(languages)}",
            )
    offered = [lang for lang in offered if lang in languages] or ["en"]
    team_language = r.get(data, path, "team_language", str, "en") or "en"
    if team_language not in languages:
        r.problem(
            f"{path}.team_language", f"there is no catalog for {team_language!r}", "use one of: " + ", ".join(languages)
        )
        team_language = "en"
    rooms = r.string_list(data, path, "team_room", example='"telegram:-1001234567890"')
    for room in rooms:
        _address(r, f"{path}.team_room", room, platforms, group=True)
    coordinators = r.string_list(data, path, "coordinators", example='["telegram:111"]')
    for coordinator in coordinators:
        _address(r, f"{path}.coordinators", coordinator, platforms)
    code_word = r.get(data, path, "code_word", str)
    if code_word is not None and len(code_word.strip()) < 4:
        r.problem(
            f"{path}.code_word",
            "is too short to be used safely",
            'use a phrase nobody says by accident, e.g. "blue umbrella"',
        )
        code_word = None
    contacts: dict[ContactKind, tuple[str, ...]] = {}
    emergency = r.string_list(data, path, "emergency_contacts", example='["Ambulance and police: 112"]')
    if emergency:
        contacts[ContactKind.EMERGENCY] = tuple(emergency)
    raw_contacts = data.get("contacts", {})
    if isinstance(raw_contacts, Mapping):
        r.table(raw_contacts, f"{path}.contacts", tuple(k.value for k in ContactKind))
        for kind in ContactKind:
            entries = r.string_list(raw_contacts, f"{path}.contacts", kind.value)
            if entries:
                contacts[kind] = (*contacts.get(kind, ()), *entries)
    else:
        r.problem(f"{path}.contacts", "must be a table", 'write [spaces.contacts] with security = ["…"]')
    responders = _responders(r, data.get("responders", []), path, platforms, languages)
    known: set[str] = {i for p in responders for i in p.identities}
    for coordinator in coordinators:
        if coordinator not in known:
            responders.append(Person((Identity(coordinator),), coordinator.split(":", 1)[-1], ("en",)))
            known.add(coordinator)
    rota = _rota(r, data.get("rota"), path, timezone, known)
    escalation = _escalation(r, data.get("escalation"), path)
    handling = _handling(r, data.get("policy"), path)
    if not responders:
        r.problem(f"{path}.responders", "the space has no responders", "add [[spaces.responders]] with id and name")
    if space_id is None or name is None:
        return None
    return Space(
        id=SpaceId(space_id),
        name=name,
        timezone=timezone,
        languages=tuple(offered),
        team_language=team_language,
        team_rooms=tuple(ChatAddress(room) for room in rooms),
        coordinators=tuple(Identity(c) for c in coordinators),
        responders=tuple(responders),
        code_word=code_word,
        contacts=contacts,
        escalation=escalation,
        handling=handling,
        rota=rota,
    )


def _address(r: _Reader, key: str, value: str, platforms: tuple[str, ...], group: bool = False) -> None:
    if not is_valid_address(value) or (platform_of(value) == "memory" and "memory" not in platforms):
        example = (
            '"telegram:-1001234567890" or "matrix:!room:example.org"'
            if group
            else '"telegram:111" or "matrix:@ana:example.org"'
        )
        r.problem(key, f"{value!r} is not a valid identity", f"write it as {example}")
        return
    platform = platform_of(value)
    if platform not in platforms:
        r.problem(
            key, f"{value!r} is on {platform}, which is not configured", f"add a [{platform}] section or remove it"
        )
    if group and platform == "matrix" and not value.startswith("matrix:!"):
        r.problem(key, f"{value!r} is not a Matrix room id", 'write the room id, e.g. "matrix:!abc123:example.org"')


def _responders(
    r: _Reader, data: Any, path: str, platforms: tuple[str, ...], languages: tuple[str, ...]
) -> list[Person]:
    if not isinstance(data, list):
        r.problem(f"{path}.responders", "must be a list of tables", "write [[spaces.responders]] entries")
        return []
    people: list[Person] = []
    seen: set[str] = set()
    for index, entry in enumerate(data):
        where = f"{path}.responders[{index}]"
        if not isinstance(entry, Mapping):
            r.problem(where, "must be a table", "write id = … and name = …")
            continue
        r.table(entry, where, ("id", "name", "languages"))
        identities = r.string_list(entry, where, "id", example='"telegram:222"')
        if not identities:
            r.problem(f"{where}.id", "is missing", 'add id = "telegram:222" (or a list of identities)')
        for identity in identities:
            _address(r, f"{where}.id", identity, platforms)
            if identity in seen:
                r.problem(f"{where}.id", f"{identity!r} is listed twice", "list each identity under one responder only")
            seen.add(identity)
        name = r.get(entry, where, "name", str, required=True, example='"Ana"')
        spoken = r.string_list(entry, where, "languages", example='["en", "es"]') or ["en"]
        if identities and name:
            people.append(Person(tuple(Identity(i) for i in identities), name, tuple(spoken)))
    return people


def _rota(r: _Reader, data: Any, path: str, timezone: str, known: set[str]) -> Rota | None:
    if data is None:
        return None
    where = f"{path}.rota"
    if not isinstance(data, Mapping):
        r.problem(where, "must be a table", "write [spaces.rota] with shifts = [...]")
        return None
    r.table(data, where, ("shifts", "weekly"))
    shifts: list[Shift] = []
    for index, entry in enumerate(data.get("shifts", []) if isinstance(data.get("shifts", []), list) else []):
        key = f"{where}.shifts[{index}]"
        if not isinstance(entry, Mapping):
            r.problem(
                key,
                "must be an inline table",
                '{ responders = ["telegram:222"], start = "2027-08-01T08:00", end = "…" }',
            )
            continue
        r.table(entry, key, ("responders", "start", "end"))
        people = _rota_people(r, entry, key, known)
        start = _local_datetime(r, entry, key, "start")
        end = _local_datetime(r, entry, key, "end")
        if start and end and end <= start:
            r.problem(key, "the shift ends before it starts", "make end later than start")
        elif start and end and people:
            shifts.append(Shift(tuple(Identity(p) for p in people), start, end))
    weekly: list[WeeklyShift] = []
    raw_weekly = data.get("weekly", [])
    for index, entry in enumerate(raw_weekly if isinstance(raw_weekly, list) else []):
        key = f"{where}.weekly[{index}]"
        if not isinstance(entry, Mapping):
            r.problem(
                key,
                "must be an inline table",
                '{ responders = […], days = ["mon-fri"], start = "08:00", end = "20:00" }',
            )
            continue
        r.table(entry, key, ("responders", "days", "start", "end"))
        people = _rota_people(r, entry, key, known)
        try:
            days = parse_weekdays(r.string_list(entry, key, "days", example='["mon-fri"]') or ["mon-sun"])
        except ValueError:
            r.problem(
                f"{key}.days", "has an unknown day", 'use mon, tue, wed, thu, fri, sat, sun or ranges like "mon-fri"'
            )
            continue
        start_t = _clock_time(r, entry, key, "start")
        end_t = _clock_time(r, entry, key, "end")
        if start_t is not None and end_t is not None and start_t == end_t:
            r.problem(key, "start and end are the same", "a 24-hour shift runs from 00:00 to 23:59; or use two shifts")
        elif start_t is not None and end_t is not None and people:
            weekly.append(WeeklyShift(tuple(Identity(p) for p in people), days, start_t, end_t))
    return Rota(timezone, tuple(shifts), tuple(weekly))


def _rota_people(r: _Reader, entry: Mapping[str, Any], key: str, known: set[str]) -> list[str]:
    people = r.string_list(entry, key, "responders", example='["telegram:222"]')
    if not people:
        r.problem(
            f"{key}.responders", "names nobody", 'list the responders on this shift: responders = ["telegram:222"]'
        )
    for person in people:
        if person not in known:
            r.problem(
                f"{key}.responders",
                f"{person!r} is not a responder of this space",
                "add them under [[spaces.responders]] first",
            )
    return [p for p in people if p in known]


def _local_datetime(r: _Reader, entry: Mapping[str, Any], key: str, name: str) -> datetime | None:
    raw = entry.get(name)
    if isinstance(raw, datetime):
        return raw.replace(tzinfo=None)
    if not isinstance(raw, str):
        r.problem(
            f"{key}.{name}",
            "is missing or not a date and time",
            f'write {name} = "2027-08-01T08:00" (local time of the space)',
        )
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=None)
    except ValueError:
        r.problem(f"{key}.{name}", f"{raw!r} is not a date and time", 'write it as "2027-08-01T08:00"')
        return None


def _clock_time(r: _Reader, entry: Mapping[str, Any], key: str, name: str) -> time | None:
    raw = entry.get(name)
    if isinstance(raw, time):
        return raw
    try:
        return time.fromisoformat(str(raw)) if raw is not None else None
    except ValueError:
        pass
    r.problem(f"{key}.{name}", f"{raw!r} is not a time of day", f'write {name} = "08:00"')
    return None


def parse_policy(
    data: Any, where: str = "policy", r: _Reader | None = None
) -> tuple[EscalationPolicy | None, list[Problem]]:
    """Validate one escalation policy (shared by the configuration and ``policy set``)."""
    r = r or _Reader("policy")
    before = len(r.problems)
    policy = _policy(r, data, where)
    return policy, r.problems[before:]


def _policy(r: _Reader, data: Any, where: str) -> EscalationPolicy | None:
    problem = r.problem
    if not isinstance(data, Mapping):
        problem(where, "must be a table", 'write steps = [ { after = "0s", notify = "oncall" } ]')
        return None
    r.table(data, where, ("steps", "repeat_every"))
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        problem(
            f"{where}.steps",
            "a policy needs at least one step",
            'write steps = [ { after = "0s", notify = "oncall" } ]',
        )
        return None
    steps: list[EscalationStep] = []
    previous = timedelta(0)
    for index, entry in enumerate(raw_steps):
        key = f"{where}.steps[{index}]"
        if not isinstance(entry, Mapping):
            problem(key, "must be an inline table", '{ after = "5m", notify = "team" }')
            continue
        r.table(entry, key, ("after", "notify"))
        after = r.duration(entry, key, "after", timedelta(0), maximum=MAX_STEP_DELAY)
        if after < previous:
            problem(f"{key}.after", "comes before the previous step", "list steps in the order they happen")
        previous = max(previous, after)
        notify = entry.get("notify")
        if notify not in {t.value for t in Target}:
            problem(f"{key}.notify", f"{notify!r} is not a target", "use oncall, team, coordinators or everyone")
            continue
        steps.append(EscalationStep(after, Target(notify)))
    repeat: timedelta | None = None
    if "repeat_every" in data:
        repeat = r.duration(
            data, where, "repeat_every", timedelta(minutes=15), minimum=MIN_REPEAT, maximum=MAX_STEP_DELAY
        )
    if len(steps) != len(raw_steps):
        return None
    return EscalationPolicy(tuple(steps), repeat)


def _escalation(r: _Reader, data: Any, path: str) -> dict[Urgency, EscalationPolicy]:
    policies = dict(DEFAULT_POLICIES)
    if data is None:
        return policies
    where = f"{path}.escalation"
    if not isinstance(data, Mapping):
        r.problem(where, "must be a table", "write [spaces.escalation.normal] with steps = [...]")
        return policies
    r.table(data, where, tuple(u.value for u in Urgency))
    for urgency in Urgency:
        if urgency.value in data:
            policy = _policy(r, data[urgency.value], f"{where}.{urgency.value}")
            if policy is not None:
                policies[urgency] = policy
    return policies


def _handling(r: _Reader, data: Any, path: str) -> HandlingPolicy:
    if data is None:
        return HandlingPolicy()
    where = f"{path}.policy"
    if not isinstance(data, Mapping):
        r.problem(where, "must be a table", "write [spaces.policy] with pairs = true")
        return HandlingPolicy()
    r.table(data, where, ("pairs", "show_responder_names", "unclaimed_after", "quiet_after", "retention_days"))
    defaults = HandlingPolicy()
    retention = r.get(data, where, "retention_days", int, defaults.retention_days) or defaults.retention_days
    if not 1 <= retention <= 3650:
        r.problem(f"{where}.retention_days", f"{retention} is out of range", "use a number of days from 1 to 3650")
        retention = defaults.retention_days
    return HandlingPolicy(
        pairs=bool(r.get(data, where, "pairs", bool, False)),
        show_responder_names=bool(r.get(data, where, "show_responder_names", bool, False)),
        unclaimed_after=r.duration(
            data, where, "unclaimed_after", defaults.unclaimed_after, minimum=timedelta(minutes=1)
        ),
        quiet_after=r.duration(data, where, "quiet_after", defaults.quiet_after, minimum=timedelta(minutes=5)),
        retention_days=retention,
    )


def _reporting(r: _Reader, data: Any) -> ReportingSettings:
    if data is None:
        return ReportingSettings()
    if not isinstance(data, Mapping):
        r.problem("reporting", "must be a table", 'write [reporting] with draft_expire_after = "24h"')
        return ReportingSettings()
    r.table(data, "reporting", ("max_text", "draft_remind_after", "draft_expire_after"))
    defaults = ReportingSettings()
    max_text = r.get(data, "reporting", "max_text", int, defaults.max_text) or defaults.max_text
    if not 100 <= max_text <= 4000:
        r.problem("reporting.max_text", f"{max_text} is out of range", "use a number from 100 to 4000")
        max_text = defaults.max_text
    remind = r.duration(
        data, "reporting", "draft_remind_after", defaults.draft_remind_after, minimum=timedelta(minutes=1)
    )
    expire = r.duration(
        data, "reporting", "draft_expire_after", defaults.draft_expire_after, minimum=timedelta(minutes=5)
    )
    if remind >= expire:
        r.problem("reporting.draft_remind_after", "is not before draft_expire_after", "remind before the draft expires")
    return ReportingSettings(max_text, remind, expire)


def _operations(r: _Reader, data: Any) -> OperationsSettings:
    if data is None:
        return OperationsSettings()
    if not isinstance(data, Mapping):
        r.problem("operations", "must be a table", 'write [operations] with health = "127.0.0.1:9108"')
        return OperationsSettings()
    r.table(
        data,
        "operations",
        (
            "health",
            "log_format",
            "log_level",
            "deadman_url",
            "deadman_every",
            "stall_after",
            "poll_stale_after",
            "outage_notice_after",
        ),
    )
    health = r.get(data, "operations", "health", str)
    if health is not None and not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", health):
        r.problem("operations.health", f"{health!r} is not host:port", 'write health = "127.0.0.1:9108"')
        health = None
    log_format = r.get(data, "operations", "log_format", str, "json") or "json"
    if log_format not in ("json", "text"):
        r.problem("operations.log_format", f"{log_format!r} is not a log format", 'use "json" or "text"')
        log_format = "json"
    level = (r.get(data, "operations", "log_level", str, "INFO") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        r.problem("operations.log_level", f"{level!r} is not a log level", "use DEBUG, INFO, WARNING or ERROR")
        level = "INFO"
    deadman = r.get(data, "operations", "deadman_url", str)
    if deadman is not None and not re.match(r"^https?://", deadman):
        r.problem("operations.deadman_url", f"{deadman!r} is not an http(s) URL", "write the URL your monitor gave you")
        deadman = None
    every = r.duration(data, "operations", "deadman_every", timedelta(minutes=1), minimum=timedelta(seconds=10))
    defaults = OperationsSettings()
    stall = r.duration(
        data,
        "operations",
        "stall_after",
        defaults.stall_after,
        minimum=timedelta(seconds=1),
        maximum=timedelta(minutes=5),
    )
    stale = r.duration(data, "operations", "poll_stale_after", defaults.poll_stale_after, minimum=timedelta(seconds=30))
    notice = r.duration(
        data, "operations", "outage_notice_after", defaults.outage_notice_after, minimum=timedelta(minutes=1)
    )
    return OperationsSettings(health, log_format, level, deadman, every, stall, stale, notice)


TOP_KEYS = ("storage", "telegram", "matrix", "spaces", "reporting", "operations")


def parse(
    data: Mapping[str, Any],
    *,
    file: str = "haven.toml",
    base: Path | None = None,
    env: Mapping[str, str] | None = None,
    languages: tuple[str, ...] = ("en",),
) -> Settings:
    """Turn parsed TOML into :class:`Settings`, or raise :class:`ConfigError` with every problem."""
    environment = os.environ if env is None else env
    root = base or Path.cwd()
    r = _Reader(file)
    r.table(data, "", TOP_KEYS)
    storage = _storage(r, data.get("storage", {}), root, environment) if "storage" in data else None
    if "storage" not in data:
        r.problem("storage", "is missing", 'add [storage] with url = "sqlite:////var/lib/haven/haven.db"')
    telegram = _telegram(r, data["telegram"], environment) if "telegram" in data else None
    matrix = _matrix(r, data["matrix"], root, environment) if "matrix" in data else None
    platforms = tuple(name for name in ("telegram", "matrix") if name in data)
    if not platforms:
        r.problem("telegram", "no chat platform is configured", "add a [telegram] or a [matrix] section")
    raw_spaces = data.get("spaces", [])
    spaces: list[Space] = []
    if not isinstance(raw_spaces, list) or not raw_spaces:
        r.problem("spaces", "no space is configured", "add a [[spaces]] table with id, name, team_room and responders")
    else:
        for index, entry in enumerate(raw_spaces):
            space = _space(r, entry, index, platforms, languages)
            if space is not None:
                if any(s.id == space.id for s in spaces):
                    r.problem(f"spaces[{index}].id", f"{space.id!r} is used twice", "give every space its own id")
                spaces.append(space)
    rooms = [room for s in spaces for room in s.team_rooms]
    for room in {room for room in rooms if rooms.count(room) > 1}:
        r.problem("spaces.team_room", f"{room!r} is the team room of several spaces", "give each space its own room")
    if telegram is not None:
        telegram = replace(telegram, team_rooms=tuple(room for room in rooms if platform_of(room) == "telegram"))
    if matrix is not None:
        matrix = replace(matrix, team_rooms=tuple(native_id(room) for room in rooms if platform_of(room) == "matrix"))
    reporting = _reporting(r, data.get("reporting"))
    operations = _operations(r, data.get("operations"))
    if r.problems or storage is None:
        raise ConfigError(r.problems)
    return Settings(file, storage, tuple(spaces), telegram, matrix, reporting, operations)


def _read(path: Path) -> dict[str, Any]:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            [Problem(name, "(file)", f"cannot be read: {error.strerror}", "check the path and permissions")]
        ) from error
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError([Problem(name, "(file)", "is not UTF-8 text", "save the file as UTF-8")]) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([Problem(name, "(syntax)", str(error), "fix the TOML syntax at that line")]) from error


def load(path: Path, *, env: Mapping[str, str] | None = None, languages: tuple[str, ...] = ("en",)) -> Settings:
    """Read and check a configuration file."""
    data = _read(path)
    return parse(data, file=str(path), base=path.resolve().parent, env=env, languages=languages)


def load_storage(path: Path, *, env: Mapping[str, str] | None = None) -> StorageSettings:
    """Only the ``[storage]`` section (backup and restore need no platform secrets)."""
    data = _read(path)
    r = _Reader(str(path))
    raw = data.get("storage")
    storage = _storage(r, raw, path.resolve().parent, os.environ if env is None else env) if raw is not None else None
    if raw is None:
        r.problem("storage", "is missing", 'add [storage] with url = "sqlite:////var/lib/haven/haven.db"')
    if r.problems or storage is None:
        raise ConfigError(r.problems)
    return storage
