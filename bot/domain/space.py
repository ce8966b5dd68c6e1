"""A space: one event or community, with its team, rota, policies and contacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.domain.ids import ChatAddress, Identity, SpaceId
from bot.domain.model import Person, Urgency
from bot.domain.rota import Rota


class Target(StrEnum):
    """Whom an escalation step notifies (SPEC 3.3)."""

    ONCALL = "oncall"
    TEAM = "team"
    COORDINATORS = "coordinators"
    EVERYONE = "everyone"


class ContactKind(StrEnum):
    """Kinds of support and safety information (SPEC 4.6), in the order they are shown."""

    EMERGENCY = "emergency"
    SECURITY = "security"
    PSYCHOLOGICAL = "psychological"
    LEGAL = "legal"
    TECHNICAL = "technical"


@dataclass(frozen=True, slots=True)
class EscalationStep:
    after: timedelta
    notify: Target


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    steps: tuple[EscalationStep, ...]
    repeat_every: timedelta | None = None


DEFAULT_POLICIES: dict[Urgency, EscalationPolicy] = {
    Urgency.NORMAL: EscalationPolicy(
        steps=(
            EscalationStep(timedelta(0), Target.ONCALL),
            EscalationStep(timedelta(minutes=5), Target.ONCALL),
            EscalationStep(timedelta(minutes=10), Target.TEAM),
            EscalationStep(timedelta(minutes=15), Target.COORDINATORS),
        ),
        repeat_every=timedelta(minutes=15),
    ),
    Urgency.HIGH: EscalationPolicy(
        steps=(
            EscalationStep(timedelta(0), Target.ONCALL),
            EscalationStep(timedelta(minutes=2), Target.TEAM),
            EscalationStep(timedelta(minutes=5), Target.COORDINATORS),
        ),
        repeat_every=timedelta(minutes=5),
    ),
    Urgency.EMERGENCY: EscalationPolicy(
        steps=(EscalationStep(timedelta(0), Target.EVERYONE),),
        repeat_every=timedelta(minutes=1),
    ),
}


@dataclass(frozen=True, slots=True)
class HandlingPolicy:
    """How the team handles cases, beyond escalation."""

    pairs: bool = False
    show_responder_names: bool = False
    unclaimed_after: timedelta = timedelta(minutes=10)
    quiet_after: timedelta = timedelta(hours=2)
    retention_days: int = 180


@dataclass(frozen=True, slots=True)
class Space:
    id: SpaceId
    name: str
    timezone: str = "UTC"
    languages: tuple[str, ...] = ("en",)
    team_language: str = "en"
    team_rooms: tuple[ChatAddress, ...] = ()
    coordinators: tuple[Identity, ...] = ()
    responders: tuple[Person, ...] = ()
    code_word: str | None = None
    contacts: dict[ContactKind, tuple[str, ...]] = field(default_factory=dict)
    escalation: dict[Urgency, EscalationPolicy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    handling: HandlingPolicy = HandlingPolicy()
    rota: Rota | None = None

    @property
    def default_language(self) -> str:
        return self.languages[0] if self.languages else "en"

    def person(self, identity: str) -> Person | None:
        for person in self.responders:
            if person.has(identity):
                return person
        return None

    def is_responder(self, identity: str) -> bool:
        return self.person(identity) is not None

    def is_coordinator(self, identity: str) -> bool:
        person = self.person(identity)
        keys = person.identities if person else (identity,)
        return any(key in self.coordinators for key in keys)

    def coordinator_people(self) -> tuple[Person, ...]:
        return tuple(p for p in self.responders if any(i in self.coordinators for i in p.identities))

    def policy(self, urgency: Urgency) -> EscalationPolicy:
        return self.escalation.get(urgency) or DEFAULT_POLICIES[urgency]
