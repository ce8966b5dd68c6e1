"""Pictures for coordinators: the rota as a timeline, and the charts of the post-incident export.

matplotlib is imported lazily: drawing is rare and the import is slow, start-up time is not.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.space import Space


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rota_png(space: Space, start: datetime, days: int = 3) -> bytes:
    """Who is on call over the coming days, one row per responder, in the space's local time."""
    plt = _pyplot()
    zone = ZoneInfo(space.timezone)
    end = start + timedelta(days=days)
    people = list(space.responders)
    fig, axis = plt.subplots(figsize=(10, 1.2 + 0.45 * max(1, len(people))), dpi=110)
    for row, person in enumerate(people):
        spans: list[tuple[float, float]] = []
        if space.rota is None:
            spans.append((0.0, days * 24.0))
        else:
            points = [start, *space.rota.boundaries(start, end), end]
            for first, last in itertools.pairwise(points):
                if person.key in space.rota.on_call(first):
                    spans.append(((first - start).total_seconds() / 3600, (last - first).total_seconds() / 3600))
        axis.broken_barh(spans, (row - 0.35, 0.7), color="#3b7dd8")
    axis.set_yticks(range(len(people)), [p.name for p in people])
    ticks = list(range(0, days * 24 + 1, 6))
    axis.set_xticks(
        ticks, [(start + timedelta(hours=h)).astimezone(zone).strftime("%a %H:%M") for h in ticks], fontsize=7
    )
    axis.set_xlim(0, days * 24)
    axis.set_ylim(-0.6, len(people) - 0.4)
    axis.invert_yaxis()
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(f"{space.name} · on call · {space.timezone}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def export_png(title: str, by_category: Mapping[str, int], ack_minutes: Sequence[float]) -> bytes:
    """Cases per category, and how long they waited for an acknowledgement."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    labels = list(by_category)
    left.barh(labels, [by_category[k] for k in labels], color="#3b7dd8")
    left.set_title("Cases by category")
    left.invert_yaxis()
    right.hist(list(ack_minutes) or [0], bins=min(20, max(5, len(ack_minutes))), color="#e08a2e")
    right.set_title("Minutes until acknowledged")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
