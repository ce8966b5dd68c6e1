"""Who is paged for a case: pure routing rules.

* Conflicts of interest first: a responder named in "who was involved" or excluded by the reporter is
  never paged for, shown or assigned the case.
* ``oncall`` on the first step prefers responders who speak the reporter's language (two of them when
  the space handles reports in pairs); later ``oncall`` steps page everyone on call.
* The reporter's choice of a specific responder is honoured on the first step.
* Never route to nobody: when nobody eligible is on call, the team and the coordinators are paged and
  the coordinators are told that the rota has a hole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.ids import Identity
from bot.domain.model import Case, Person
from bot.domain.space import Space, Target


@dataclass(frozen=True, slots=True)
class Route:
    people: tuple[Person, ...]
    room: bool = False
    rota_hole: bool = False


def on_call(space: Space, at: datetime) -> tuple[Person, ...]:
    """Responders on call at ``at``; with no rota everyone is on call."""
    if space.rota is None:
        return space.responders
    keys = space.rota.on_call(at)
    return tuple(p for p in space.responders if any(i in keys for i in p.identities))


def excluded(case: Case, space: Space) -> frozenset[Identity]:
    """Keys of the responders who must never see this case."""
    content = case.content
    if content is None:
        return frozenset()
    keys: set[Identity] = set()
    for identity in content.excluded:
        person = space.person(identity)
        keys.add(person.key if person else identity)
    return frozenset(keys)


def named_in(text: str, people: Iterable[Person]) -> tuple[Identity, ...]:
    """Responders whose name or handle appears in free text (conflict of interest)."""
    haystack = f" {_fold(text)} "
    found = []
    for person in people:
        names = {person.name, *(i.split(":", 1)[1].lstrip("@").split(":")[0] for i in person.identities)}
        for name in names:
            folded = _fold(name)
            if len(folded) >= 3 and f" {folded} " in haystack:
                found.append(person.key)
                break
    return tuple(found)


def route(space: Space, case: Case, target: Target, at: datetime, *, first: bool) -> Route:
    banned = excluded(case, space)
    eligible = tuple(p for p in space.responders if p.key not in banned)
    coordinators = tuple(p for p in space.coordinator_people() if p.key not in banned)
    present = tuple(p for p in on_call(space, at) if p.key not in banned)
    if target == Target.EVERYONE:
        return Route(_unique(present, eligible), room=not banned)
    if target == Target.TEAM:
        return Route(eligible or coordinators)
    if target == Target.COORDINATORS:
        return Route(coordinators or eligible)
    chosen = case.content.chosen if case.content else None
    if first and chosen is not None:
        person = space.person(chosen)
        if person is not None and person.key not in banned:
            return Route((person,))
    if not present:
        return Route(_unique(eligible, coordinators), rota_hole=True)
    if first:
        needed = 2 if space.handling.pairs else 1
        speakers = tuple(p for p in present if case.language in p.languages)
        if len(speakers) >= needed:
            return Route(speakers)
        others = tuple(p for p in present if p not in speakers)
        return Route((*speakers, *others[: max(0, needed - len(speakers))]) if speakers else present)
    return Route(present)


def _unique(*groups: Iterable[Person]) -> tuple[Person, ...]:
    seen: dict[Identity, Person] = {}
    for group in groups:
        for person in group:
            seen.setdefault(person.key, person)
    return tuple(seen.values())


def _fold(text: str) -> str:
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", " ", stripped).strip()
