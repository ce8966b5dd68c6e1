"""Figures about a space's cases for ``stats`` and the post-incident ``export`` (pure)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain.ids import CaseId
from bot.domain.model import Case, CaseEvent, CaseState, Urgency

SLOW_ACK_MINUTES = 10.0


@dataclass(frozen=True, slots=True)
class Stats:
    total: int = 0
    open: int = 0
    by_category: Mapping[str, int] = field(default_factory=dict)
    by_urgency: Mapping[str, int] = field(default_factory=dict)
    by_outcome: Mapping[str, int] = field(default_factory=dict)
    withdrawn: int = 0
    ack_minutes: tuple[float, ...] = ()
    escalated: int = 0
    slow: int = 0
    rota_holes: int = 0
    unreachable: int = 0
    alone_when_pairs: int = 0
    verbal: int = 0
    signed_off: int = 0
    reviews: int = 0

    @property
    def median_ack(self) -> float | None:
        return statistics.median(self.ack_minutes) if self.ack_minutes else None

    @property
    def worst_ack(self) -> float | None:
        return max(self.ack_minutes) if self.ack_minutes else None


def compute(cases: Sequence[Case], events: Mapping[CaseId, Sequence[CaseEvent]], pairs: bool = False) -> Stats:
    ack = []
    escalated = rota_holes = unreachable = alone = reviews = 0
    for case in cases:
        history = events.get(case.id, ()) if case.id is not None else ()
        reviews += sum(1 for e in history if e.kind == "reviewed")
        if case.acknowledged_at is not None:
            ack.append(max(0.0, (case.acknowledged_at - case.created_at).total_seconds() / 60))
        paged = [e for e in history if e.kind == "paged"]
        if any(int(e.detail.get("step", 0)) > 0 for e in paged) and case.urgency != Urgency.EMERGENCY:
            escalated += 1
        rota_holes += any(e.detail.get("rota_hole") for e in paged)
        unreachable += sum(1 for e in paged if e.detail.get("instead_of"))
        if pairs and case.state == CaseState.RESOLVED and len(case.assignees) < 2:
            alone += 1
    return Stats(
        total=len(cases),
        open=sum(1 for c in cases if c.is_open),
        by_category=dict(Counter(c.category.value for c in cases)),
        by_urgency=dict(Counter(c.urgency.value for c in cases)),
        by_outcome=dict(Counter(c.outcome.value for c in cases if c.outcome)),
        withdrawn=sum(1 for c in cases if c.state == CaseState.WITHDRAWN),
        ack_minutes=tuple(ack),
        escalated=escalated,
        slow=sum(1 for minutes in ack if minutes > SLOW_ACK_MINUTES),
        rota_holes=rota_holes,
        unreachable=unreachable,
        alone_when_pairs=alone,
        verbal=sum(1 for c in cases if c.source.value == "verbal"),
        signed_off=sum(1 for c in cases if c.signed_off),
        reviews=reviews,
    )
