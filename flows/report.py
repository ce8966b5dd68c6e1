"""The guided report (SPEC 4.1) as a pure state machine.

Rules, as in the table below:

* Each step asks one question. An answer is classified into an *event* (``"role"``, ``"text"``,
  ``"skip"`` ...); ``TRANSITIONS[(step, event)]`` names the next step or an exit.
* ``back``, ``cancel`` and the emergency button work on every step; ``skip`` only where the step is
  optional. ``back`` returns to the previous step actually asked.
* An answer that fits no transition changes nothing: the person is told why and asked again.
* Assault or a medical emergency that is "happening now", or "yes" to "is anyone in danger", leaves
  for the fast track at once with what has been answered so far.

``python -m flows.report`` prints the table as a Mermaid diagram (see docs/flows.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.domain.ids import Identity, SpaceId
from bot.domain.model import FAST_TRACK_CATEGORIES, Attachment, Category, Contact, Role, Whom
from bot.i18n import Renderable, Text, lines, t
from flows import texts
from flows.common import Choice, Env, Prompt, match_choice

MAX_DETAIL_MESSAGES = 30
MAX_ATTACHMENTS = 20


class Step(StrEnum):
    SPACE = "space"
    DANGER = "danger"
    ROLE = "role"
    CATEGORY = "category"
    WHEN_WHERE = "when_where"
    INVOLVED = "involved"
    WHAT = "what"
    WHOM = "whom"
    WHOM_PICK = "whom_pick"
    WHOM_EXCLUDE = "whom_exclude"
    CONTACT = "contact"
    CONFIRM = "confirm"


class Exit(StrEnum):
    FILE = "file"
    FAST_TRACK = "fast-track"
    CANCEL = "cancel"


TRANSITIONS: dict[tuple[Step, str], Step | Exit] = {
    (Step.SPACE, "space"): Step.DANGER,
    (Step.DANGER, "yes"): Exit.FAST_TRACK,
    (Step.DANGER, "no"): Step.ROLE,
    (Step.ROLE, "role"): Step.CATEGORY,
    (Step.CATEGORY, "category"): Step.WHEN_WHERE,
    (Step.WHEN_WHERE, "text"): Step.INVOLVED,
    (Step.WHEN_WHERE, "here"): Step.INVOLVED,
    (Step.WHEN_WHERE, "now"): Step.INVOLVED,
    (Step.WHEN_WHERE, "happening-now"): Exit.FAST_TRACK,
    (Step.INVOLVED, "text"): Step.WHAT,
    (Step.INVOLVED, "skip"): Step.WHAT,
    (Step.WHAT, "text"): Step.WHAT,
    (Step.WHAT, "attachment"): Step.WHAT,
    (Step.WHAT, "done"): Step.WHOM,
    (Step.WHOM, "anyone"): Step.CONTACT,
    (Step.WHOM, "specific"): Step.WHOM_PICK,
    (Step.WHOM, "except"): Step.WHOM_EXCLUDE,
    (Step.WHOM_PICK, "person"): Step.CONTACT,
    (Step.WHOM_EXCLUDE, "person"): Step.CONTACT,
    (Step.CONTACT, "contact"): Step.CONFIRM,
    (Step.CONFIRM, "send"): Exit.FILE,
}
#: Events accepted on every step.
EVERYWHERE: dict[str, Exit | None] = {"cancel": Exit.CANCEL, "sos": Exit.FAST_TRACK, "back": None}
OPTIONAL = frozenset({Step.INVOLVED})
ATTACHED = t("Thank you. I added it to your report.")


@dataclass(frozen=True, slots=True)
class Draft:
    space: SpaceId | None = None
    step: Step = Step.DANGER
    path: tuple[Step, ...] = ()
    role: Role | None = None
    category: Category | None = None
    when_where: str = ""
    involved: str = ""
    details: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    whom: Whom = Whom.ANYONE
    person: Identity | None = None
    contact: Contact | None = None
    offered: tuple[Identity, ...] = field(default=())
    reporter_name: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["attachments"] = [[a.kind, a.ref, a.name, a.size, a.mime] for a in self.attachments]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        return cls(
            space=SpaceId(data["space"]) if data.get("space") else None,
            step=Step(data.get("step", Step.DANGER)),
            path=tuple(Step(s) for s in data.get("path", ())),
            role=Role(data["role"]) if data.get("role") else None,
            category=Category(data["category"]) if data.get("category") else None,
            when_where=data.get("when_where", ""),
            involved=data.get("involved", ""),
            details=tuple(data.get("details", ())),
            attachments=tuple(Attachment(*a) for a in data.get("attachments", ())),
            whom=Whom(data.get("whom", Whom.ANYONE)),
            person=Identity(data["person"]) if data.get("person") else None,
            contact=Contact(data["contact"]) if data.get("contact") else None,
            offered=tuple(Identity(i) for i in data.get("offered", ())),
            reporter_name=data.get("reporter_name", ""),
        )


# --- reading an answer -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Picked:
    key: str


@dataclass(frozen=True, slots=True)
class Typed:
    text: str


@dataclass(frozen=True, slots=True)
class Attached:
    attachment: Attachment
    caption: str = ""


Answer = Picked | Typed | Attached


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one answer: where to go, the updated draft, and a note to show first."""

    target: Step | Exit
    draft: Draft
    note: Renderable | None = None


def start(space: SpaceId | None, spaces_known: int) -> Draft:
    """A new draft: the space question is skipped when the space is known or there is only one."""
    return Draft(space=space, step=Step.DANGER if space is not None or spaces_known <= 1 else Step.SPACE)


def prompt(draft: Draft, env: Env) -> Prompt:
    """The question for the draft's current step, with its buttons."""
    step = draft.step
    body: Renderable
    options: list[tuple[Choice, ...]] = []
    if step == Step.SPACE:
        body = texts.Q_SPACE
        options = [(Choice(space.name, f"space:{space.id}"),) for space in env.spaces]
    elif step == Step.DANGER:
        body = texts.Q_DANGER
        options = [(Choice(texts.YES, "yes", emergency=True), Choice(texts.NO, "no"))]
    elif step == Step.ROLE:
        body = texts.Q_ROLE
        options = [(Choice(texts.ROLE[role], f"role:{role}"),) for role in _ROLES]
    elif step == Step.CATEGORY:
        body = texts.Q_CATEGORY
        options = [(Choice(texts.CATEGORY[cat], f"cat:{cat}"),) for cat in Category]
    elif step == Step.WHEN_WHERE:
        body = texts.Q_WHEN_WHERE
        options = [(Choice(texts.NOW_BUTTON, "now"), Choice(texts.HERE_BUTTON, "here"))]
    elif step == Step.INVOLVED:
        body = texts.Q_INVOLVED
    elif step == Step.WHAT:
        body = texts.Q_WHAT_MORE if draft.details or draft.attachments else texts.Q_WHAT
        options = [(Choice(texts.DONE, "done"),)]
    elif step == Step.WHOM:
        body = texts.Q_WHOM
        options = [
            (Choice(texts.WHOM_ANYONE, "anyone"),),
            (Choice(texts.WHOM_SPECIFIC, "specific"),),
            (Choice(texts.WHOM_EXCEPT, "except"),),
        ]
    elif step in (Step.WHOM_PICK, Step.WHOM_EXCLUDE):
        if step == Step.WHOM_EXCLUDE:
            body = texts.Q_WHOM_EXCLUDE
        else:
            body = texts.Q_WHOM_PICK if env.on_call else texts.Q_WHOM_PICK_NOBODY_ON_DUTY
        people = {p.key: p for p in (env.space.responders if env.space else ())}
        options = [
            (Choice(_person_label(people[key]), f"person:{index}"),)
            for index, key in enumerate(draft.offered)
            if key in people
        ]
    elif step == Step.CONTACT:
        body = texts.Q_CONTACT
        options = [(Choice(texts.CONTACT[c], f"contact:{c}"),) for c in Contact]
    else:
        body = lines_confirm(draft, env)
        options = [(Choice(texts.SEND, "send"),)]
    nav: list[Choice] = []
    if draft.path:
        nav.append(Choice(texts.BACK, "back"))
    if step in OPTIONAL:
        nav.append(Choice(texts.SKIP, "skip"))
    nav.append(Choice(texts.CANCEL, "cancel"))
    rows = (*options, tuple(nav), (Choice(texts.EMERGENCY, "sos", emergency=True),))
    return Prompt(body, rows)


def lines_confirm(draft: Draft, env: Env) -> Renderable:
    return lines(
        texts.Q_CONFIRM,
        texts.summary(
            draft.category,
            draft.role,
            draft.when_where,
            draft.involved,
            draft.details,
            len(draft.attachments),
            _whom_label(draft, env),
            draft.contact,
        ),
        sep="\n\n",
    )


def answer(draft: Draft, reply: Answer, env: Env) -> Transition:
    """Apply one answer to the current step."""
    step = draft.step
    if isinstance(reply, Typed):
        matched = match_choice(reply.text, prompt(draft, env).choices(), env.render)
        if matched is not None:
            reply = Picked(matched.key)
    if isinstance(reply, Picked) and reply.key in EVERYWHERE:
        exit_to = EVERYWHERE[reply.key]
        if exit_to is not None:
            return Transition(exit_to, draft)
        return _back(draft)
    classified = _classify(draft, reply, env)
    if isinstance(classified, Text):
        return Transition(step, draft, classified)
    event, updated = classified
    if event == "attachment-elsewhere":
        return Transition(step, updated, ATTACHED)
    target = TRANSITIONS.get((step, event))
    if target is None:
        return Transition(step, draft, texts.PICK_AN_OPTION)
    if isinstance(target, Exit):
        return Transition(target, updated)
    if target != step:
        updated = _enter(replace(updated, step=target, path=(*draft.path, step)), env)
    return Transition(target, updated)


def _back(draft: Draft) -> Transition:
    if not draft.path:
        return Transition(draft.step, draft)
    previous = draft.path[-1]
    return Transition(previous, replace(draft, step=previous, path=draft.path[:-1]))


def _enter(draft: Draft, env: Env) -> Draft:
    """Prepare a step before it is asked (fix the list of people offered)."""
    if draft.step == Step.WHOM_PICK:
        people = env.on_call or (env.space.responders if env.space else ())
        return replace(draft, offered=tuple(p.key for p in people))
    if draft.step == Step.WHOM_EXCLUDE:
        return replace(draft, offered=tuple(p.key for p in (env.space.responders if env.space else ())))
    return draft


_ROLES = (Role.AFFECTED, Role.WITNESS, Role.ON_BEHALF)


def _classify(draft: Draft, reply: Answer, env: Env) -> tuple[str, Draft] | Text:
    """Name the event an answer makes on the current step, with the draft it produces."""
    step = draft.step
    if isinstance(reply, Attached):
        if len(draft.attachments) >= MAX_ATTACHMENTS:
            return t("That is the most attachments one report can hold. Please describe the rest in words.")
        added = replace(draft, attachments=(*draft.attachments, reply.attachment))
        if reply.caption:
            added = replace(added, details=(*added.details, reply.caption[: env.max_text]))
        if step == Step.WHAT:
            return "attachment", added
        return "attachment-elsewhere", added
    if isinstance(reply, Picked):
        kind, _, value = reply.key.partition(":")
        if step == Step.SPACE and kind == "space" and any(s.id == value for s in env.spaces):
            return "space", replace(draft, space=SpaceId(value))
        if step == Step.DANGER and kind in ("yes", "no"):
            return kind, draft
        if step == Step.ROLE and kind == "role" and value in _ROLE_VALUES:
            return "role", replace(draft, role=Role(value))
        if step == Step.CATEGORY and kind == "cat" and value in _CATEGORY_VALUES:
            return "category", replace(draft, category=Category(value))
        if step == Step.WHEN_WHERE and kind in ("now", "here"):
            when = texts.NOW if kind == "now" else texts.HERE
            updated = replace(draft, when_where=when)
            if kind == "now" and draft.category in FAST_TRACK_CATEGORIES:
                return "happening-now", updated
            return kind, updated
        if step == Step.INVOLVED and kind == "skip":
            return "skip", replace(draft, involved="")
        if step == Step.WHAT and kind == "done":
            if not draft.details and not draft.attachments:
                return texts.NEED_DETAILS
            return "done", draft
        if step == Step.WHOM and kind in ("anyone", "specific", "except"):
            whom = {"anyone": Whom.ANYONE, "specific": Whom.SPECIFIC, "except": Whom.EXCEPT}[kind]
            return kind, replace(draft, whom=whom, person=None)
        if step in (Step.WHOM_PICK, Step.WHOM_EXCLUDE) and kind == "person" and value.isdigit():
            index = int(value)
            if index < len(draft.offered):
                return "person", replace(draft, person=draft.offered[index])
        if step == Step.CONTACT and kind == "contact" and value in _CONTACT_VALUES:
            return "contact", replace(draft, contact=Contact(value))
        if step == Step.CONFIRM and kind == "send":
            return "send", draft
        return texts.PICK_AN_OPTION
    text = reply.text.strip()
    if not text:
        return texts.EMPTY_ANSWER
    if len(text) > env.max_text:
        return texts.too_long(env.max_text)
    if step == Step.WHEN_WHERE:
        return "text", replace(draft, when_where=text)
    if step == Step.INVOLVED:
        return "text", replace(draft, involved=text)
    if step == Step.WHAT:
        if len(draft.details) >= MAX_DETAIL_MESSAGES:
            return t("That is a lot to read in one report. Please press Done; you can add more after sending.")
        return "text", replace(draft, details=(*draft.details, text))
    return texts.PICK_AN_OPTION


_ROLE_VALUES = frozenset(r.value for r in _ROLES)
_CATEGORY_VALUES = frozenset(c.value for c in Category)
_CONTACT_VALUES = frozenset(c.value for c in Contact)


def _person_label(person: Any) -> str:
    languages = ", ".join(person.languages)
    return f"{person.name} ({languages})" if languages else str(person.name)


def _whom_label(draft: Draft, env: Env) -> Renderable:
    person = env.space.person(draft.person) if env.space and draft.person else None
    if draft.whom == Whom.SPECIFIC and person:
        return t("only {name}", name=person.name)
    if draft.whom == Whom.EXCEPT and person:
        return t("anyone on duty except {name}", name=person.name)
    return texts.WHOM_ANYONE


def mermaid() -> str:
    """The transition table as a Mermaid state diagram."""
    out = ["stateDiagram-v2", f"    [*] --> {Step.SPACE.value}", f"    [*] --> {Step.DANGER.value}"]
    for (step, event), target in TRANSITIONS.items():
        name = target.value.replace("-", "_")
        out.append(f"    {step.value} --> {name}: {event}")
    out.append("    note right of confirm: back, cancel and 🆘 work on every step")
    for exit_ in Exit:
        out.append(f"    {exit_.value.replace('-', '_')} --> [*]")
    return "\n".join(out)


if __name__ == "__main__":
    print(mermaid())
