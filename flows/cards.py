"""Responder-facing words: the card in the team room and the pages.

A card carries no reporter identity and no free text (need to know): reference, category, urgency,
when it came in, the pseudonym, the language, who is paged and whether a second responder is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.model import Case, CaseState, Person, Urgency
from bot.domain.space import Space
from bot.i18n import Lines, Renderable, Text, lines, t, tn, tp
from flows import texts
from flows.common import Choice, Rows

URGENCY_ICON = {Urgency.NORMAL: "🟡", Urgency.HIGH: "🟠", Urgency.EMERGENCY: "🔴"}
STATE_ICON = {
    CaseState.OPEN: "🔔",
    CaseState.ACKNOWLEDGED: "👀",
    CaseState.CLAIMED: "🛡",
    CaseState.RESOLVED: "✅",
    CaseState.WITHDRAWN: "↩",
}

ACK = tp("button", "✅ Acknowledge")
CLAIM = tp("button", "🛡 Take it")
JOIN = tp("button", "🤝 Join")

TEAM_STATE = {
    CaseState.OPEN: tp("team state", "waiting for acknowledgement"),
    CaseState.ACKNOWLEDGED: tp("team state", "acknowledged, nobody has taken it yet"),
    CaseState.CLAIMED: tp("team state", "being handled"),
    CaseState.RESOLVED: tp("team state", "closed"),
    CaseState.WITHDRAWN: tp("team state", "withdrawn by the reporter"),
}


def names(people: Sequence[Person], space: Space, keys: Sequence[str]) -> str:
    shown = []
    for key in keys:
        person = space.person(key)
        shown.append(person.name if person else key)
    return ", ".join(shown) or "—"


def local_time(moment: datetime, space: Space) -> str:
    return moment.astimezone(ZoneInfo(space.timezone)).strftime("%H:%M")


def card_text(case: Case, space: Space, paged: Sequence[str], now: datetime, restricted: bool = False) -> Lines:
    if restricted:
        return lines(
            t("🔒 A restricted case came in. The people who can handle it were told privately."),
        )
    minutes = max(0, int((now - case.created_at).total_seconds() // 60))
    pair_missing = space.handling.pairs and case.is_open and len(case.assignees) == 1
    return lines(
        t(
            "{icon} {ref} · {category}",
            icon=URGENCY_ICON[case.urgency],
            ref=case.ref,
            category=texts.CATEGORY[case.category],
        ),
        t(
            "Urgency: {urgency} · reported {time} ({minutes} min ago)",
            urgency=texts.URGENCY[case.urgency],
            time=local_time(case.created_at, space),
            minutes=minutes,
        ),
        t(
            "Reporter: {pseudonym} · language: {language}",
            pseudonym=case.reporter or "—",
            language=case.language,
        ),
        t("Status: {icon} {state}", icon=STATE_ICON[case.state], state=TEAM_STATE[case.state]),
        t("Handling: {names}", names=names((), space, case.assignees)) if case.assignees else None,
        t("Paged: {names}", names=names((), space, paged)) if paged and case.state == CaseState.OPEN else None,
        t("⚠ A second responder is needed.") if pair_missing else None,
        t("⛔ Linked to event ban #{number}.", number=case.linked_ban) if case.linked_ban else None,
        signed_off_line(case),
    )


def signed_off_line(case: Case) -> Text | None:
    if case.source.value != "verbal":
        return None
    if case.signed_off:
        return t("✍ Taken in person · signed off by the reporter.")
    return t("✍ Taken in person · not signed off yet.")


def card_buttons(case: Case, restricted: bool = False) -> Rows:
    if restricted or not case.is_open:
        return ()
    ref = case.ref
    if case.state == CaseState.OPEN:
        return ((Choice(ACK, f"ack:{ref}"), Choice(CLAIM, f"claim:{ref}"), Choice(JOIN, f"join:{ref}")),)
    return ((Choice(CLAIM, f"claim:{ref}"), Choice(JOIN, f"join:{ref}")),)


def page_text(case: Case, space: Space, repeat: int) -> Text:
    if case.urgency == Urgency.EMERGENCY:
        return t(
            "🔴 EMERGENCY {ref} · {category} · {space}. Please acknowledge now.",
            ref=case.ref,
            category=texts.CATEGORY[case.category],
            space=space.name,
        )
    if repeat:
        return t(
            "🔔 Still waiting: {ref} · {category} · {space}. Please acknowledge.",
            ref=case.ref,
            category=texts.CATEGORY[case.category],
            space=space.name,
        )
    return t(
        "🔔 New case {ref} · {category} · {space}. Please acknowledge.",
        ref=case.ref,
        category=texts.CATEGORY[case.category],
        space=space.name,
    )


def claim_buttons(case: Case) -> Rows:
    return ((Choice(CLAIM, f"claim:{case.ref}"),),)


def page_buttons(case: Case) -> Rows:
    return ((Choice(ACK, f"ack:{case.ref}"), Choice(CLAIM, f"claim:{case.ref}")),)


def room_page(case: Case, names_text: str) -> Text:
    return t("Paging {names} for {ref}.", names=names_text, ref=case.ref)


def rota_hole(case: Case) -> Text:
    return t(
        "⚠ Nobody eligible is on call for {ref}. I paged the whole team and the coordinators. Please check the rota.",
        ref=case.ref,
    )


def acknowledged_by(case: Case, name: str) -> Renderable:
    return t("{ref} acknowledged by {name}.", ref=case.ref, name=name)


def reporter_wrote(case: Case, kind: str, body: str) -> Text:
    if kind == "location":
        return t("📍 {ref}: the reporter's location: {text}", ref=case.ref, text=body)
    return t("💬 {ref}: the reporter wrote: {text}", ref=case.ref, text=body)


def unreachable(name: str, reason: str, case: Case) -> Text:
    return t(
        "⚠ I could not reach {name} about {ref} ({reason}). They may need to open a private chat with the bot "
        "first. The next people in the policy are paged as planned.",
        name=name,
        ref=case.ref,
        reason=reason,
    )


def withdrawn(case: Case) -> Text:
    return t("↩ The reporter withdrew {ref}.", ref=case.ref)


def handover(space: Space, cases: Sequence[Case], now: datetime) -> Lines:
    """The open cases an incoming responder inherits: references and kinds only, no identities."""
    if not cases:
        return lines(t("🔄 Your shift in {space} starts now. There are no open cases.", space=space.name))
    rows = []
    for case in cases:
        minutes = max(0, int((now - case.created_at).total_seconds() // 60))
        rows.append(
            t(
                "{icon} {ref} · {category} · {state} · {pseudonym} · {minutes} min",
                icon=URGENCY_ICON[case.urgency],
                ref=case.ref,
                category=texts.CATEGORY[case.category],
                state=TEAM_STATE[case.state],
                pseudonym=case.reporter or "—",
                minutes=minutes,
            )
        )
    return lines(t("🔄 Your shift in {space} starts now. Open cases:", space=space.name), *rows)


def signed_off(case: Case) -> Text:
    return t("✍ The reporter confirmed the written record of {ref}.", ref=case.ref)


def correction_requested(case: Case) -> Text:
    return t("✍ The reporter asked to correct the record of {ref}; their correction follows.", ref=case.ref)


def same_person(case: Case, others: int, prefix: str) -> Text:
    return tn(
        "🔗 {ref} may concern the same person as {count} other case. Send {command} to see them.",
        "🔗 {ref} may concern the same person as {count} other cases. Send {command} to see them.",
        others,
        ref=case.ref,
        command=f"{prefix}related {case.ref}",
    )
