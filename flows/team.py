"""Responder commands: parsing (pure) and the words responders read.

``ack REF``, ``claim REF``, ``join REF``, ``leave REF``, ``reply REF TEXT``, ``note REF TEXT``,
``resolve REF OUTCOME [TEXT]``, ``reopen REF``, ``cases``, ``oncall``. Inside a case's thread or
topic the reference may be left out. Buttons on cards and pages carry ``ack:REF``, ``claim:REF``,
``join:REF``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.ids import CaseRef
from bot.domain.model import Case, Outcome, Person
from bot.domain.reference import parse_reference
from bot.domain.space import Space
from bot.i18n import Lines, Renderable, Text, lines, t, tn, tp
from flows import cards, texts

CASE_COMMANDS = frozenset({"ack", "claim", "join", "leave", "reply", "note", "resolve", "reopen"})
LIST_COMMANDS = frozenset({"cases", "oncall"})
NEEDS_TEXT = frozenset({"reply", "note"})

OUTCOME = {
    Outcome.ACTION_TAKEN: tp("outcome", "action taken"),
    Outcome.NO_ACTION: tp("outcome", "no action needed"),
    Outcome.INVALID: tp("outcome", "not a valid report"),
    Outcome.REFERRED: tp("outcome", "referred to others"),
    Outcome.DUPLICATE: tp("outcome", "duplicate of another report"),
}


@dataclass(frozen=True, slots=True)
class TeamCommand:
    name: str
    ref: CaseRef | None = None
    text: str = ""
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A command that cannot be understood: say why, with an example of the right form."""

    text: Text


def parse(
    name: str, args: str, prefix: str, thread_case: CaseRef | None = None, max_text: int = 4000
) -> TeamCommand | Problem:
    """Read a responder command. ``thread_case`` is the case whose thread the command was sent in."""
    if len(args) > max_text:
        return Problem(texts.too_long(max_text))
    if name in LIST_COMMANDS:
        return TeamCommand(name)
    words = args.split(maxsplit=1)
    ref = parse_reference(words[0]) if words else None
    rest = words[1] if ref is not None and len(words) > 1 else ("" if ref is not None else args)
    ref = ref or thread_case
    if ref is None:
        return Problem(needs_reference(name, prefix))
    if name in NEEDS_TEXT and not rest.strip():
        return Problem(t("Please add the text, for example: {example}", example=f"{prefix}{name} {ref} …"))
    if name == "resolve":
        outcome_word, _, text = rest.strip().partition(" ")
        try:
            outcome = Outcome(outcome_word.lower())
        except ValueError:
            return Problem(
                t(
                    "Please give an outcome: {outcomes}. For example: {example}",
                    outcomes=", ".join(o.value for o in Outcome),
                    example=f"{prefix}resolve {ref} action-taken",
                )
            )
        return TeamCommand(name, ref, text.strip(), outcome)
    return TeamCommand(name, ref, rest.strip())


def needs_reference(name: str, prefix: str) -> Text:
    return t(
        "Please give the case reference, for example: {example}",
        example=f"{prefix}{name} K7F-3QX" + (" …" if name in NEEDS_TEXT else ""),
    )


# --- answers ---------------------------------------------------------------------------------------

NOT_A_RESPONDER = t("This command is for the response team.")
TAKE_IT_FIRST = t("Take the case first (claim or join) to do that.")


def unknown_case(ref: CaseRef) -> Text:
    return t("I do not know a case {ref} that you can see.", ref=ref)


def already_acknowledged(case: Case, name: str) -> Text:
    return t("{ref} was already acknowledged by {name}.", ref=case.ref, name=name)


def acknowledged(case: Case, name: str) -> Text:
    return t("✅ {name} acknowledged {ref}.", name=name, ref=case.ref)


def claimed(case: Case, name: str) -> Text:
    return t("🛡 {name} took {ref}.", name=name, ref=case.ref)


def joined(case: Case, name: str) -> Text:
    return t("🤝 {name} joined {ref}.", name=name, ref=case.ref)


def left(case: Case, name: str) -> Text:
    return t("{name} stepped back from {ref}.", name=name, ref=case.ref)


def taken_by(case: Case, names: str, prefix: str) -> Text:
    return t(
        "{ref} is already handled by {names}. Use {command} to help.",
        ref=case.ref,
        names=names,
        command=f"{prefix}join {case.ref}",
    )


def closed(case: Case) -> Text:
    return t("{ref} is closed. Use {command} first if needed.", ref=case.ref, command=f"reopen {case.ref}")


def resolved(case: Case, name: str, outcome: Outcome) -> Text:
    return t("✅ {name} closed {ref}: {outcome}.", name=name, ref=case.ref, outcome=OUTCOME[outcome])


def reopened(case: Case, name: str) -> Text:
    return t("{name} reopened {ref}.", name=name, ref=case.ref)


def reply_sent(case: Case) -> Text:
    return t("Sent to the reporter of {ref}.", ref=case.ref)


NOTE_ADDED = t("Note added. The reporter never sees notes.")
NO_CONTACT = t("The reporter asked not to be contacted.")
UNREACHABLE_REPORTER = t("The reporter can no longer be reached (they erased their data).")


def already_open(case: Case) -> Text:
    return t("{ref} is already open.", ref=case.ref)


def not_open(case: Case) -> Text:
    return t("{ref} is not open.", ref=case.ref)


def details(case: Case, space: Space, messages: Sequence[tuple[str, str]], now: datetime) -> Lines:
    """The full case, sent privately to the people who handle it."""
    content = case.content
    parts: list[Renderable] = [
        t("📄 Case {ref} · {space}", ref=case.ref, space=space.name),
        cards.card_text(case, space, (), now),
    ]
    if content is None:
        parts.append(t("The content of this case was erased."))
        return lines(*parts)
    role = texts.ROLE[case.role]
    parts.append(t("Reporter: {role}", role=role))
    if content.reporter_name:
        parts.append(t("Name (shared by the reporter): {name}", name=content.reporter_name))
    if content.when_where:
        parts.append(t("When and where: {value}", value=texts.when_where_label(content.when_where)))
    if content.location:
        parts.append(t("Location: {value}", value=content.location))
    if content.involved:
        parts.append(t("Who was involved: {value}", value=content.involved))
    if content.details:
        parts.append(t("What happened:"))
        parts.extend(f"  {line}" for line in content.details)
    if content.attachments:
        parts.append(tn("{count} attachment", "{count} attachments", len(content.attachments)))
    if case.contact == case.contact.NONE:
        parts.append(t("The reporter asked not to be contacted."))
    for kind, body in messages:
        label = {"reporter": "💬", "team": "↩", "note": "📝", "location": "📍", "attachment": "📎"}.get(kind, "•")
        parts.append(f"{label} {body}")
    return lines(*parts)


def case_line(case: Case, space: Space, now: datetime) -> Text:
    minutes = max(0, int((now - case.created_at).total_seconds() // 60))
    return t(
        "{icon} {ref} · {category} · {state} · {minutes} min",
        icon=cards.URGENCY_ICON[case.urgency],
        ref=case.ref,
        category=texts.CATEGORY[case.category],
        state=cards.TEAM_STATE[case.state],
        minutes=minutes,
    )


def case_list(cases: Sequence[Case], space: Space, now: datetime) -> Renderable:
    if not cases:
        return t("No open cases in {space}.", space=space.name)
    return lines(
        t("Open cases in {space}, oldest first:", space=space.name), *(case_line(c, space, now) for c in cases)
    )


def oncall(space: Space, now_people: Sequence[Person], following: tuple[datetime, Sequence[Person]] | None) -> Lines:
    present = ", ".join(p.name for p in now_people) or "—"
    parts: list[Renderable] = [t("On call now in {space}: {names}", space=space.name, names=present)]
    if following is not None:
        moment, people = following
        parts.append(
            t(
                "Next, from {time}: {names}",
                time=cards.local_time(moment, space),
                names=", ".join(p.name for p in people) or "—",
            )
        )
    return lines(*parts)


def unclaimed_reminder(case: Case) -> Text:
    return t("⏰ {ref} was acknowledged but nobody has taken it yet. Please claim it.", ref=case.ref)


def quiet_reminder(case: Case) -> Text:
    return t("⏰ {ref} has had no update for a while. Is it still being handled?", ref=case.ref)


def verbal_saved(case: Case, links: str) -> Text:
    return t(
        "Saved as {ref}; you are handling it. Give the reporter this link so they can confirm or correct the record: {links}",
        ref=case.ref,
        links=links,
    )
