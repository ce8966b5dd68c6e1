"""A responder's own conversations with the bot (pure): recording a verbal report, and the
post-incident review after closing a case.

Verbal report (SPEC 4.5): kind → when and where → who was involved (optional) → what happened →
the reporter's chat identity (optional, for sign-off) → check and save. The recorder takes the case.

Review (training module, post-incident review): five questions, each optional; answers stay with the
case (sealed) and feed ``export`` only when a coordinator includes them explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.ids import is_valid_address
from bot.domain.model import Category
from bot.i18n import Renderable, Text, lines, t
from flows import texts
from flows.common import Choice, Prompt, Reply, Rows, match_choice
from flows.export import REVIEW_QUESTIONS

VERBAL_STEPS = ("category", "when_where", "involved", "what", "contact", "confirm")


@dataclass(frozen=True, slots=True)
class SaveVerbal:
    draft: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SaveReview:
    ref: str
    question: int
    answer: str


@dataclass(frozen=True, slots=True)
class ReviewDone:
    ref: str
    answered: int


Action = Reply | SaveVerbal | SaveReview | ReviewDone
STOP = Choice(texts.CANCEL, "cancel")
SKIP = Choice(texts.SKIP, "skip")


def start_verbal() -> tuple[dict[str, Any], list[Action]]:
    state: dict[str, Any] = {"flow": "verbal", "step": "category", "draft": {}, "question": 1}
    return state, [_ask(state)]


def start_review(ref: str) -> tuple[dict[str, Any], list[Action]]:
    state: dict[str, Any] = {"flow": "review", "ref": ref, "index": 0, "answered": 0, "question": 1}
    intro = t("Post-incident review for {ref}. Five short questions; skip any of them.", ref=ref)
    return state, [Reply(lines(intro, REVIEW_QUESTIONS[0], sep="\n\n"), _review_rows())]


def _review_rows() -> Rows:
    return ((SKIP, Choice(texts.NO_THANKS, "cancel")),)


def _prompt(state: dict[str, Any]) -> Prompt:
    step = state["step"]
    draft = state["draft"]
    if step == "category":
        return Prompt(
            t("Recording a report taken in person. What kind of incident is it?"),
            (*((Choice(texts.CATEGORY[c], f"cat:{c.value}"),) for c in Category), (STOP,)),
        )
    if step == "when_where":
        return Prompt(t("When and where did it happen?"), ((STOP,),))
    if step == "involved":
        return Prompt(t("Who was involved? (optional)"), ((SKIP, STOP),))
    if step == "what":
        return Prompt(t("What did the reporter tell you? Write it as they said it."), ((STOP,),))
    if step == "contact":
        return Prompt(
            t(
                "Can the reporter confirm the record in a chat? Write their Matrix ID (@name:server) or their Telegram "
                "numeric ID, or skip: you will get a link to give them."
            ),
            ((SKIP, STOP),),
        )
    summary: Renderable = lines(
        t("Please check the record:"),
        t("• What kind: {value}", value=texts.CATEGORY[Category(draft["category"])]),
        t("• When and where: {value}", value=draft.get("when_where", "—")),
        t("• Who was involved: {value}", value=draft.get("involved") or "—"),
        t("• What happened: {value}", value=draft.get("what", "—")),
    )
    return Prompt(summary, ((Choice(t("✔ Save"), "save"), STOP),))


def _ask(state: dict[str, Any], note: Text | None = None) -> Reply:
    prompt = _prompt(state)
    return Reply(lines(note, prompt.text, sep="\n\n") if note else prompt.text, prompt.rows)


def step(
    state: dict[str, Any], text: str | None, key: str | None, render: Any, max_text: int = 4000
) -> tuple[dict[str, Any] | None, list[Action]]:
    """Advance a responder flow with a typed answer or a pressed button. ``None`` state: the flow ended."""
    if state.get("flow") == "review":
        return _review(state, text, key, render, max_text)
    current = state["step"]
    if key is None and text is not None:
        matched = match_choice(text, _prompt(state).choices(), render)
        key = matched.key if matched else None
    if key == "cancel":
        return None, [Reply(t("OK, nothing was recorded."))]
    draft = dict(state["draft"])
    answer = (text or "").strip()
    if current == "category":
        if not key or not key.startswith("cat:"):
            return state, [_ask(state, texts.PICK_AN_OPTION)]
        draft["category"] = key[4:]
    elif current in ("when_where", "what"):
        if key is not None or not answer:
            return state, [_ask(state, texts.EMPTY_ANSWER)]
        if len(answer) > max_text:
            return state, [_ask(state, texts.too_long(max_text))]
        draft[current] = answer
    elif current == "involved":
        draft["involved"] = "" if key == "skip" else answer[:max_text]
    elif current == "contact":
        if key != "skip":
            identity = _identity(answer)
            if identity is None:
                return state, [_ask(state, t("That is not a Matrix ID (@name:server) or a Telegram numeric ID."))]
            draft["contact"] = identity
    elif current == "confirm":
        if key != "save":
            return state, [_ask(state, texts.PICK_AN_OPTION)]
        return None, [SaveVerbal(draft)]
    following = VERBAL_STEPS[VERBAL_STEPS.index(current) + 1]
    updated = {**state, "step": following, "draft": draft, "question": state.get("question", 0) + 1}
    return updated, [_ask(updated)]


def _identity(text: str) -> str | None:
    value = text.strip()
    if value.startswith("@") and is_valid_address(f"matrix:{value}"):
        return f"matrix:{value}"
    if value.isdigit() and is_valid_address(f"telegram:{value}"):
        return f"telegram:{value}"
    return value if is_valid_address(value) else None


def _review(
    state: dict[str, Any], text: str | None, key: str | None, render: Any, max_text: int
) -> tuple[dict[str, Any] | None, list[Action]]:
    ref = str(state["ref"])
    index = int(state["index"])
    answered = int(state.get("answered", 0))
    if key is None and text is not None:
        matched = match_choice(text, [c for row in _review_rows() for c in row], render)
        key = matched.key if matched else None
    actions: list[Action] = []
    if key == "cancel":
        return None, [ReviewDone(ref, answered), Reply(t("Thank you. You can stop here."))]
    if key is None:
        answer = (text or "").strip()[:max_text]
        if not answer:
            return state, [Reply(REVIEW_QUESTIONS[index], _review_rows())]
        actions.append(SaveReview(ref, index + 1, answer))
        answered += 1
    index += 1
    if index >= len(REVIEW_QUESTIONS):
        return None, [*actions, ReviewDone(ref, answered), Reply(t("Thank you. Your answers help the next team."))]
    updated = {**state, "index": index, "answered": answered, "question": state.get("question", 0) + 1}
    return updated, [*actions, Reply(REVIEW_QUESTIONS[index], _review_rows())]


def self_care(contacts: Renderable | None) -> Renderable:
    return lines(
        t(
            "You handled a serious case. That can stay with you for a while: take a break, and talk to someone you trust."
        ),
        lines(t("Support:"), contacts) if contacts else None,
        sep="\n\n",
    )
