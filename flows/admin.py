"""Coordinator commands (SPEC 6): parsing (pure) and the words coordinators read.

Every mistake gets an explanation with an example of the right form. Times are local to the space and
written ``2027-08-01T08:00``; durations ``90s``, ``5m``, ``2h``, ``3d``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.ids import is_valid_address
from bot.domain.rota import parse_weekdays
from bot.domain.space import ContactKind
from bot.i18n import Text, t

COMMANDS = frozenset(
    {
        "team",
        "invite",
        "rota",
        "override",
        "policy",
        "contacts",
        "codeword",
        "ban",
        "pause",
        "resume",
        "stats",
        "export",
        "audit",
        "related",
        "block",
        "unblock",
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    text: Text


@dataclass(frozen=True, slots=True)
class ShiftEntry:
    who: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None
    days: frozenset[int] = frozenset()
    from_time: time | None = None
    to_time: time | None = None


@dataclass(frozen=True, slots=True)
class Admin:
    """A parsed coordinator command: ``name`` and ``action`` plus the arguments that action uses."""

    name: str
    action: str = ""
    who: str = ""
    identity: str = ""
    display_name: str = ""
    languages: tuple[str, ...] = ()
    coordinator: bool = False
    shifts: tuple[ShiftEntry, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    duration: timedelta | None = None
    covered: str = ""
    urgency: str = ""
    steps: tuple[tuple[timedelta, str], ...] = ()
    repeat: timedelta | None = None
    kind: ContactKind | None = None
    text: str = ""
    number: int = 0
    lines: tuple[str, ...] = field(default=())
    reference: str = ""
    with_text: bool = False
    picture: bool = False


def example(prefix: str, usage: str) -> Problem:
    return Problem(
        t("I did not understand that. The right form is, for example: {example}", example=f"{prefix}{usage}")
    )


def parse(name: str, args: str, prefix: str) -> Admin | Problem:
    head, _, rest = args.strip().partition("\n")
    try:
        words = shlex.split(head)
    except ValueError:
        words = head.split()
    body = tuple(line.strip() for line in rest.splitlines() if line.strip())
    action = words[0].lower() if words else ""
    tail = words[1:]
    if name == "team":
        if action in ("", "list"):
            return Admin("team", "list")
        if action == "add" and len(tail) >= 2 and is_valid_address(tail[0]):
            langs = tuple(tail[2].split(",")) if len(tail) > 2 and tail[2] != "coordinator" else ("en",)
            return Admin(
                "team",
                "add",
                identity=tail[0],
                display_name=tail[1],
                languages=langs,
                coordinator="coordinator" in tail[2:],
            )
        if action == "remove" and len(tail) == 1:
            return Admin("team", "remove", who=tail[0])
        return example(prefix, 'team add telegram:444 "Dana" en,fr [coordinator] · team remove Dana · team list')
    if name == "invite":
        if words:
            langs = tuple(words[1].split(",")) if len(words) > 1 else ("en",)
            return Admin("invite", display_name=words[0], languages=langs)
        return example(prefix, 'invite "Dana" en,fr')
    if name == "rota":
        if action in ("", "show"):
            return Admin("rota", "show", picture="picture" in tail)
        if action == "picture":
            return Admin("rota", "show", picture=True)
        if action == "clear":
            return Admin("rota", "clear")
        if action == "set":
            entries = [*(" ".join(tail).split(";")), *body]
            shifts = []
            for entry in (e.strip() for e in entries if e.strip()):
                parsed = _shift(entry)
                if parsed is None:
                    return Problem(
                        t(
                            "I could not read the shift {entry!r}. Write one shift per line, for example: {example}",
                            entry=entry,
                            example=f"{prefix}rota set\nAna 2027-08-01T08:00 2027-08-01T20:00\nBen,Cora mon-fri 20:00-08:00",
                        )
                    )
                shifts.append(parsed)
            if not shifts:
                return example(prefix, "rota set Ana 2027-08-01T08:00 2027-08-01T20:00")
            return Admin("rota", "set", shifts=tuple(shifts))
        return example(prefix, "rota show · rota show picture · rota set … · rota clear")
    if name == "override":
        return _override(words, prefix)
    if name == "policy":
        if action in ("", "show"):
            return Admin("policy", "show")
        if action == "set" and tail:
            return _policy(tail, prefix)
        return example(prefix, "policy set normal 0s:oncall 5m:oncall 10m:team 15m:coordinators repeat 15m")
    if name == "contacts":
        if action in ("", "show", "list"):
            return Admin("contacts", "show")
        if action in ("add", "clear") and tail and tail[0] in {k.value for k in ContactKind}:
            text = " ".join(tail[1:])
            if action == "add" and not text:
                return example(prefix, 'contacts add security "Venue security: +46 8 000 000"')
            return Admin("contacts", action, kind=ContactKind(tail[0]), text=text)
        return example(prefix, f'contacts add {"|".join(k.value for k in ContactKind)} "…" · contacts clear security')
    if name == "codeword":
        if action in ("", "show"):
            return Admin("codeword", "show")
        if action == "clear":
            return Admin("codeword", "clear")
        if action == "set" and tail and len(" ".join(tail)) >= 4:
            return Admin("codeword", "set", text=" ".join(tail))
        return example(prefix, 'codeword set "blue umbrella" · codeword clear')
    if name == "ban":
        return _ban(action, tail, body, prefix)
    if name == "pause":
        return Admin("pause", text=args.strip())
    if name == "resume":
        return Admin("resume")
    if name == "stats":
        return Admin("stats")
    if name == "export":
        return Admin("export", with_text="with-text" in words)
    if name == "audit":
        return Admin("audit", reference=words[0] if words else "")
    if name == "related":
        if words:
            return Admin("related", reference=words[0])
        return example(prefix, "related K7F-3QX")
    if name in ("block", "unblock"):
        if words and re.fullmatch(r"R-[2-9A-HJ-NP-Z]{4}", words[0].upper()):
            return Admin(name, who=words[0].upper(), text=" ".join(words[1:]))
        return example(prefix, f"{name} R-7QX4")
    return example(prefix, "help")


_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}$")
_SPAN = re.compile(r"^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$")


def local_datetime(text: str) -> datetime | None:
    if not _LOCAL.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return None


def _shift(entry: str) -> ShiftEntry | None:
    parts = entry.split()
    if len(parts) < 2:
        return None
    who = tuple(p for p in parts[0].split(",") if p)
    if len(parts) == 3 and (start := local_datetime(parts[1])) and (end := local_datetime(parts[2])):
        return ShiftEntry(who, start=start, end=end) if end > start else None
    if len(parts) == 3 and _SPAN.match(parts[2]):
        span = _SPAN.match(parts[2])
        assert span is not None
        try:
            first, last = time.fromisoformat(span.group(1).zfill(5)), time.fromisoformat(span.group(2).zfill(5))
        except ValueError:
            return None
        try:
            day = date.fromisoformat(parts[1])
        except ValueError:
            day = None
        if day is not None:
            start = datetime.combine(day, first)
            end = datetime.combine(day if last > first else day + timedelta(days=1), last)
            return ShiftEntry(who, start=start, end=end)
        try:
            days = parse_weekdays(parts[1].split(","))
        except (ValueError, IndexError):
            return None
        return ShiftEntry(who, days=days, from_time=first, to_time=last) if first != last else None
    return None


def _override(words: list[str], prefix: str) -> Admin | Problem:
    usage = "override Ana 2027-08-01T10:00 2027-08-01T14:00 for Ben · override Ana now 2h for Ben"
    if len(words) < 3:
        return example(prefix, usage)
    who, first, second, *rest = words
    start = None if first.lower() == "now" else local_datetime(first)
    if start is None and first.lower() != "now":
        return example(prefix, usage)
    end = local_datetime(second)
    duration = None
    if end is None:
        try:
            duration = parse_duration(second)
        except DurationError:
            return example(prefix, usage)
        if duration <= timedelta(0) or duration > timedelta(days=14):
            return Problem(
                t(
                    "An override lasts between one minute and 14 days. For example: {example}",
                    example=f"{prefix}{usage}",
                )
            )
    covered = ""
    if rest:
        if rest[0].lower() in ("for", "instead") and len(rest) >= 2:
            covered = rest[-1]
        else:
            return example(prefix, usage)
    return Admin("override", who=who, start=start, end=end, duration=duration, covered=covered)


def _policy(tail: list[str], prefix: str) -> Admin | Problem:
    usage = "policy set normal 0s:oncall 5m:oncall 10m:team 15m:coordinators repeat 15m"
    urgency, *items = tail
    if urgency not in ("normal", "high", "emergency"):
        return Problem(t("Choose normal, high or emergency. For example: {example}", example=f"{prefix}{usage}"))
    steps: list[tuple[timedelta, str]] = []
    repeat: timedelta | None = None
    index = 0
    while index < len(items):
        item = items[index]
        if item == "repeat" and index + 1 < len(items):
            try:
                repeat = parse_duration(items[index + 1])
            except DurationError:
                return example(prefix, usage)
            index += 2
            continue
        after, sep, target = item.partition(":")
        if not sep:
            return example(prefix, usage)
        try:
            steps.append((parse_duration(after), target))
        except DurationError:
            return Problem(
                t(
                    "{value!r} is not a duration. Write 90s, 5m or 2h. For example: {example}",
                    value=after,
                    example=f"{prefix}{usage}",
                )
            )
        index += 1
    return Admin("policy", "set", urgency=urgency, steps=tuple(steps), repeat=repeat)


def _ban(action: str, tail: list[str], body: tuple[str, ...], prefix: str) -> Admin | Problem:
    if action in ("", "list"):
        return Admin("ban", "list")
    if action == "check":
        names = body or tuple(n.strip() for n in " ".join(tail).split(";") if n.strip())
        return Admin("ban", "check", lines=names)
    if action == "remove" and len(tail) == 1 and tail[0].lstrip("#").isdigit():
        return Admin("ban", "remove", number=int(tail[0].lstrip("#")))
    if action == "add" and tail:
        usage = 'ban add "John Smith (jsmith)" for 3d because harassment at a past event'
        words = list(tail)
        reason = ""
        if "because" in words:
            position = words.index("because")
            reason, words = " ".join(words[position + 1 :]), words[:position]
        duration: timedelta | None = None
        end: datetime | None = None
        if len(words) >= 3 and words[-2] in ("for", "until"):
            if words[-2] == "for":
                try:
                    duration = parse_duration(words[-1])
                except DurationError:
                    return example(prefix, usage)
            else:
                end = local_datetime(words[-1]) or local_datetime(words[-1] + "T23:59")
                if end is None:
                    return example(prefix, usage)
            words = words[:-2]
        if not words:
            return example(prefix, usage)
        return Admin("ban", "add", display_name=" ".join(words), duration=duration, end=end, text=reason)
    return example(prefix, 'ban add "Name" for 3d · ban remove 4 · ban list · ban check')


# --- answers ---------------------------------------------------------------------------------------

NOT_A_COORDINATOR = t("This command is for the space's coordinators.")
WHICH_SPACE = t("You coordinate several spaces. Please run this command in the team room of the space you mean.")


def source_note(by: str | None, at: str | None) -> Text:
    if by is None:
        return t("(from the configuration file)")
    return t("(changed by {name} at {time})", name=by, time=at or "")


def duration_text(delta: timedelta) -> str:
    return format_duration(delta)


SEND_THE_LIST = t(
    "Send the registration list as a file now (text or CSV, one registrant per line, at most 2 MB), or paste the "
    "names after the command, one per line."
)
READING_THE_LIST = t("Reading the list…")
UNREADABLE_LIST = t(
    "I could not read that file. Send a text or CSV file of at most 2 MB, or paste the names after the command."
)


def registrants(data: bytes, most: int = 5000) -> tuple[str, ...]:
    """The lines of a registration list; in a CSV file every cell is a name, username or address to check."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    found = []
    for line in text.splitlines()[:most]:
        cells = [c.strip().strip('"') for c in re.split(r"[,;\t]", line)]
        found.append("; ".join(c for c in cells if c))
    return tuple(line for line in found if line)
