"""The anonymised post-incident report (``export``), shaped like the training module asks:
the issues and bottlenecks, how they were handled, lessons learned, suggestions.

No names and no free text, unless the coordinator includes the responders' review answers explicitly
(``export with-text``). Reporter identities and report text are never included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.model import Category, Outcome, Urgency
from bot.domain.stats import SLOW_ACK_MINUTES, Stats
from bot.i18n import Lines, Renderable, Text, lines, t, tn
from flows import texts
from flows.team import OUTCOME


def minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def stats_text(space_name: str, stats: Stats) -> Lines:
    by_category = [
        t("{category}: {count}", category=texts.CATEGORY[Category(k)], count=v)
        for k, v in sorted(stats.by_category.items())
    ]
    by_urgency = [
        t("{urgency}: {count}", urgency=texts.URGENCY[Urgency(k)], count=v) for k, v in sorted(stats.by_urgency.items())
    ]
    return lines(
        t("📊 {space}: {total} cases, {open} open.", space=space_name, total=stats.total, open=stats.open),
        t("By kind:"),
        *(f"• {line}" if isinstance(line, str) else line for line in by_category),
        t("By urgency:"),
        *by_urgency,
        t(
            "Time to acknowledge: median {median} min, worst {worst} min.",
            median=minutes(stats.median_ack),
            worst=minutes(stats.worst_ack),
        ),
    )


def _issues(stats: Stats) -> list[Renderable]:
    found: list[Renderable] = []
    if stats.slow:
        found.append(
            tn(
                "{count} case waited more than {limit} minutes to be acknowledged.",
                "{count} cases waited more than {limit} minutes to be acknowledged.",
                stats.slow,
                limit=int(SLOW_ACK_MINUTES),
            )
        )
    if stats.escalated:
        found.append(
            tn(
                "{count} case had to be escalated beyond the first people paged.",
                "{count} cases had to be escalated beyond the first people paged.",
                stats.escalated,
            )
        )
    if stats.rota_holes:
        found.append(
            tn(
                "{count} case came in while nobody eligible was on call.",
                "{count} cases came in while nobody eligible was on call.",
                stats.rota_holes,
            )
        )
    if stats.unreachable:
        found.append(
            tn(
                "{count} page could not be delivered to a responder.",
                "{count} pages could not be delivered to a responder.",
                stats.unreachable,
            )
        )
    if stats.alone_when_pairs:
        found.append(
            tn(
                "{count} case was handled by one person although the team works in pairs.",
                "{count} cases were handled by one person although the team works in pairs.",
                stats.alone_when_pairs,
            )
        )
    return found


def _suggestions(stats: Stats) -> list[Renderable]:
    found: list[Renderable] = []
    if stats.slow or (stats.median_ack or 0) > 5:
        found.append(t("Put more people on call at busy times, or make the first escalation step shorter."))
    if stats.rota_holes:
        found.append(t("Fill the gaps in the rota; check it with rota show picture."))
    if stats.unreachable:
        found.append(t("Make sure every responder has opened a private chat with the bot (send them an invite)."))
    if stats.alone_when_pairs:
        found.append(t("Ask a second responder to join each case (join)."))
    if stats.verbal > stats.signed_off:
        found.append(t("Ask people who report in person to sign off the written record."))
    return found


def document(
    space_name: str, period: tuple[datetime, datetime], stats: Stats, answers: Sequence[tuple[int, str]] = ()
) -> Lines:
    """The report as Markdown. ``answers`` (question number, text) only when included explicitly."""
    start, end = period
    outcome_lines = [
        t("- {outcome}: {count}", outcome=OUTCOME[Outcome(k)], count=v) for k, v in sorted(stats.by_outcome.items())
    ]
    category_lines = [
        t("- {category}: {count}", category=texts.CATEGORY[Category(k)], count=v)
        for k, v in sorted(stats.by_category.items())
    ]
    issues = _issues(stats) or [t("No bottleneck stood out in the figures.")]
    suggestions = _suggestions(stats) or [t("Keep the current rota and policies.")]
    review: list[Renderable] = [
        tn(
            "{count} post-incident review was answered by the people who handled the cases.",
            "{count} post-incident reviews were answered by the people who handled the cases.",
            stats.reviews,
        )
    ]
    for number, answer in answers:
        review.append(
            t(
                "- ({question}) {answer}",
                question=REVIEW_QUESTIONS[number - 1] if 0 < number <= 5 else "",
                answer=answer,
            )
        )
    return lines(
        t("# Post-incident report: {space}", space=space_name),
        t(
            "Period: {start} to {end}. Anonymised: no names, no report text.",
            start=start.date().isoformat(),
            end=end.date().isoformat(),
        ),
        t("## Overview"),
        t(
            "{total} cases ({open} still open, {withdrawn} withdrawn).",
            total=stats.total,
            open=stats.open,
            withdrawn=stats.withdrawn,
        ),
        *category_lines,
        t(
            "Median time to acknowledge: {median} min; worst: {worst} min.",
            median=minutes(stats.median_ack),
            worst=minutes(stats.worst_ack),
        ),
        t("## Issues and bottlenecks"),
        *(lines("- ", issue, sep="") for issue in issues),
        t("## How they were handled"),
        *(outcome_lines or [t("No case has been closed yet.")]),
        t(
            "{verbal} reports were taken in person; {signed} of them were signed off by the reporter.",
            verbal=stats.verbal,
            signed=stats.signed_off,
        ),
        t("## Lessons learned"),
        *review,
        t("## Suggestions"),
        *(lines("- ", suggestion, sep="") for suggestion in suggestions),
        sep="\n\n",
    )


REVIEW_QUESTIONS: tuple[Text, ...] = (
    t("Were you able to handle the situation effectively?"),
    t("Could you have done anything better?"),
    t("Which actions or steps worked?"),
    t("What did you learn that you could share with the community?"),
    t("Does anyone need a follow-up: the reporter, the person reported, the target, other volunteers?"),
)
