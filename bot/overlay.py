"""Coordinator changes layered over the configuration file (SPEC 3.3).

The file is the baseline. A value changed with an admin command is stored and survives restarts; a
value edited in the file takes effect at the next start unless an admin command changed it more
recently. Each key records where its current value came from, so ``team list``, ``rota show`` and
``policy show`` can say it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

from bot.domain.ids import Identity
from bot.domain.model import Person, Urgency
from bot.domain.rota import Override, Rota, Shift, WeeklyShift
from bot.domain.space import ContactKind, EscalationPolicy, EscalationStep, Space, Target
from bot.ports import Change

TEAM = "team"
COORDINATORS = "coordinators"
ROTA = "rota"
OVERRIDES = "overrides"
CONTACTS = "contacts"
CODE_WORD = "code_word"
POLICY = {urgency: f"policy.{urgency.value}" for urgency in Urgency}
#: Keys that also exist in the configuration file (overrides exist only as commands).
FILE_KEYS = (TEAM, COORDINATORS, ROTA, CONTACTS, CODE_WORD, *POLICY.values())


# --- encoding ----------------------------------------------------------------------------------------


def encode_team(people: tuple[Person, ...]) -> list[dict[str, Any]]:
    return [{"ids": list(p.identities), "name": p.name, "languages": list(p.languages)} for p in people]


def decode_team(value: list[dict[str, Any]]) -> tuple[Person, ...]:
    return tuple(Person(tuple(Identity(i) for i in p["ids"]), p["name"], tuple(p["languages"])) for p in value)


def encode_rota(rota: Rota | None) -> dict[str, Any] | None:
    if rota is None:
        return None
    return {
        "shifts": [[list(s.responders), s.start.isoformat(), s.end.isoformat()] for s in rota.shifts],
        "weekly": [
            [list(w.responders), sorted(w.weekdays), w.start.isoformat(), w.end.isoformat()] for w in rota.weekly
        ],
    }


def decode_rota(value: dict[str, Any] | None, timezone: str, overrides: tuple[Override, ...]) -> Rota | None:
    if value is None:
        return Rota(timezone, overrides=overrides) if overrides else None
    shifts = tuple(
        Shift(tuple(Identity(i) for i in ids), datetime.fromisoformat(start), datetime.fromisoformat(end))
        for ids, start, end in value.get("shifts", [])
    )
    weekly = tuple(
        WeeklyShift(
            tuple(Identity(i) for i in ids), frozenset(days), time.fromisoformat(start), time.fromisoformat(end)
        )
        for ids, days, start, end in value.get("weekly", [])
    )
    return Rota(timezone, shifts, weekly, overrides)


def encode_overrides(overrides: tuple[Override, ...]) -> list[list[Any]]:
    return [[o.covering, o.start.isoformat(), o.end.isoformat(), o.covered] for o in overrides]


def decode_overrides(value: list[list[Any]]) -> tuple[Override, ...]:
    return tuple(
        Override(
            Identity(covering),
            datetime.fromisoformat(start),
            datetime.fromisoformat(end),
            Identity(covered) if covered else None,
        )
        for covering, start, end, covered in value
    )


def encode_policy(policy: EscalationPolicy) -> dict[str, Any]:
    return {
        "steps": [[int(s.after.total_seconds()), s.notify.value] for s in policy.steps],
        "repeat": int(policy.repeat_every.total_seconds()) if policy.repeat_every else None,
    }


def decode_policy(value: dict[str, Any]) -> EscalationPolicy:
    return EscalationPolicy(
        tuple(EscalationStep(timedelta(seconds=after), Target(target)) for after, target in value["steps"]),
        timedelta(seconds=value["repeat"]) if value.get("repeat") else None,
    )


def encode_contacts(contacts: dict[ContactKind, tuple[str, ...]]) -> dict[str, list[str]]:
    return {kind.value: list(entries) for kind, entries in contacts.items() if entries}


def decode_contacts(value: dict[str, list[str]]) -> dict[ContactKind, tuple[str, ...]]:
    return {ContactKind(kind): tuple(entries) for kind, entries in value.items() if entries}


def file_value(space: Space, key: str) -> Any:
    """The configuration file's value of ``key``, encoded as a change would be."""
    if key == TEAM:
        return encode_team(space.responders)
    if key == COORDINATORS:
        return list(space.coordinators)
    if key == ROTA:
        return encode_rota(space.rota)
    if key == CONTACTS:
        return encode_contacts(space.contacts)
    if key == CODE_WORD:
        return space.code_word
    for urgency, name in POLICY.items():
        if key == name:
            return encode_policy(space.policy(urgency))
    raise KeyError(key)


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --- applying ----------------------------------------------------------------------------------------


def apply(
    base: Space, changes: dict[str, Change], file_seen: dict[str, datetime]
) -> tuple[Space, dict[str, Change | None]]:
    """The effective space, and for each key the change it came from (None: the configuration file)."""
    source: dict[str, Change | None] = {key: None for key in FILE_KEYS}
    wins = {
        key: change
        for key, change in changes.items()
        if key == OVERRIDES or key not in file_seen or change.changed_at >= file_seen[key]
    }
    space = base
    if TEAM in wins:
        space = replace(space, responders=decode_team(wins[TEAM].value))
    if COORDINATORS in wins:
        space = replace(space, coordinators=tuple(Identity(i) for i in wins[COORDINATORS].value))
    if CONTACTS in wins:
        space = replace(space, contacts=decode_contacts(wins[CONTACTS].value))
    if CODE_WORD in wins:
        space = replace(space, code_word=wins[CODE_WORD].value or None)
    policies = dict(space.escalation)
    for urgency, name in POLICY.items():
        if name in wins:
            policies[urgency] = decode_policy(wins[name].value)
    space = replace(space, escalation=policies)
    overrides = decode_overrides(wins[OVERRIDES].value) if OVERRIDES in wins else ()
    rota_value = wins[ROTA].value if ROTA in wins else encode_rota(base.rota)
    space = replace(space, rota=decode_rota(rota_value, space.timezone, overrides))
    for key, change in wins.items():
        source[key] = change
    return space, source
