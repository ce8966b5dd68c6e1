"""The guided report (SPEC 4.1) as a pure state machine: every step, every way to answer it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.domain.ids import Identity, SpaceId
from bot.domain.model import Attachment, Category, Contact, Role, Whom
from bot.domain.space import Space
from bot.i18n import Catalogs
from flows import report, texts
from flows.common import Env
from flows.report import Draft, Exit, Picked, Step, Typed
from tests.conftest import demo_space

CATALOGS = Catalogs()
NOW = datetime(2027, 8, 1, 10, 0, tzinfo=UTC)

#: A draft that has reached each step with valid answers before it.
FILLED = Draft(
    space=SpaceId("demo"),
    role=Role.AFFECTED,
    category=Category.HARASSMENT,
    when_where="Friday, main hall",
    involved="",
    details=("He kept following me.",),
    whom=Whom.ANYONE,
    contact=Contact.ANONYMOUS,
)
ORDER = [
    Step.DANGER,
    Step.ROLE,
    Step.CATEGORY,
    Step.WHEN_WHERE,
    Step.INVOLVED,
    Step.WHAT,
    Step.WHOM,
    Step.CONTACT,
    Step.CONFIRM,
]


def env(space: Space | None = None, language: str = "en") -> Env:
    chosen = space or demo_space()
    return Env(
        now=NOW,
        render=lambda text: CATALOGS.render(text, language),
        spaces=(chosen,),
        space=chosen,
        on_call=chosen.responders[:2],
    )


def at(step: Step) -> Draft:
    index = ORDER.index(step)
    return replace(FILLED, step=step, path=tuple(ORDER[:index]))


def keys(draft: Draft, e: Env | None = None) -> list[str]:
    return [choice.key for choice in report.prompt(draft, e or env()).choices()]


# --- the table -----------------------------------------------------------------------------------


def test_space_question_is_skipped_when_the_space_is_known_or_alone() -> None:
    assert report.start(SpaceId("demo"), 3).step == Step.DANGER
    assert report.start(None, 1).step == Step.DANGER
    assert report.start(None, 2).step == Step.SPACE


def test_choosing_a_space_moves_to_the_danger_question() -> None:
    two = (demo_space(), demo_space(id=SpaceId("other"), name="Other Meetup"))
    e = replace(env(), spaces=two, space=None)
    draft = report.start(None, 2)
    assert keys(draft, e)[:2] == ["space:demo", "space:other"]
    result = report.answer(draft, Picked("space:other"), e)
    assert result.target == Step.DANGER
    assert result.draft.space == "other"


def test_a_space_that_does_not_exist_is_refused() -> None:
    draft = report.start(None, 2)
    result = report.answer(draft, Picked("space:nowhere"), env())
    assert result.target == Step.SPACE
    assert result.note == texts.PICK_AN_OPTION


@pytest.mark.parametrize(
    ("step", "answer", "target"),
    [
        (Step.DANGER, Picked("no"), Step.ROLE),
        (Step.DANGER, Picked("yes"), Exit.FAST_TRACK),
        (Step.ROLE, Picked("role:witness"), Step.CATEGORY),
        (Step.CATEGORY, Picked("cat:doxing"), Step.WHEN_WHERE),
        (Step.WHEN_WHERE, Typed("Yesterday at the party"), Step.INVOLVED),
        (Step.WHEN_WHERE, Picked("here"), Step.INVOLVED),
        (Step.INVOLVED, Typed("A man in a red hat"), Step.WHAT),
        (Step.INVOLVED, Picked("skip"), Step.WHAT),
        (Step.WHAT, Typed("More detail"), Step.WHAT),
        (Step.WHAT, Picked("done"), Step.WHOM),
        (Step.WHOM, Picked("anyone"), Step.CONTACT),
        (Step.WHOM, Picked("specific"), Step.WHOM_PICK),
        (Step.WHOM, Picked("except"), Step.WHOM_EXCLUDE),
        (Step.CONTACT, Picked("contact:named"), Step.CONFIRM),
        (Step.CONFIRM, Picked("send"), Exit.FILE),
    ],
)
def test_each_step_moves_as_the_table_says(step: Step, answer: report.Answer, target: Step | Exit) -> None:
    result = report.answer(at(step), answer, env())
    assert result.target == target
    assert result.note is None
    if isinstance(target, Step) and target != step:
        assert result.draft.step == target
        assert result.draft.path[-1] == step


def test_every_transition_in_the_table_is_reachable_from_a_test() -> None:
    """The table and the diagram generated from it agree."""
    diagram = report.mermaid()
    for (step, event), target in report.TRANSITIONS.items():
        assert f"{step.value} --> {target.value.replace('-', '_')}: {event}" in diagram


# --- answers are recorded --------------------------------------------------------------------------


def test_answers_are_stored_in_the_draft() -> None:
    e = env()
    draft = at(Step.ROLE)
    draft = report.answer(draft, Picked("role:on-behalf"), e).draft
    draft = report.answer(draft, Picked("cat:banned-person"), e).draft
    draft = report.answer(draft, Typed("  Now, by the stage  "), e).draft
    draft = report.answer(draft, Typed("Someone named Bob"), e).draft
    draft = report.answer(draft, Typed("First message"), e).draft
    draft = report.answer(draft, Typed("Second message"), e).draft
    assert draft.role == Role.ON_BEHALF
    assert draft.category == Category.BANNED_PERSON
    assert draft.when_where == "Now, by the stage"
    assert draft.involved == "Someone named Bob"
    assert draft.details == ("He kept following me.", "First message", "Second message")


def test_typed_numbers_and_labels_pick_options() -> None:
    e = env()
    assert report.answer(at(Step.ROLE), Typed("2"), e).draft.role == Role.WITNESS
    assert report.answer(at(Step.ROLE), Typed("i saw it happen!"), e).draft.role == Role.WITNESS
    assert report.answer(at(Step.DANGER), Typed("No"), e).target == Step.ROLE


def test_labels_match_in_the_readers_language() -> None:
    swedish = env(language="sv")
    label = swedish.render(texts.ROLE[Role.WITNESS])
    assert report.answer(at(Step.ROLE), Typed(label), swedish).draft.role == Role.WITNESS


def test_happening_now_takes_the_fast_track_for_assault_and_medical() -> None:
    for category in (Category.ASSAULT, Category.MEDICAL):
        draft = replace(at(Step.WHEN_WHERE), category=category)
        assert report.answer(draft, Picked("now"), env()).target == Exit.FAST_TRACK
    harassment = report.answer(at(Step.WHEN_WHERE), Picked("now"), env())
    assert harassment.target == Step.INVOLVED
    assert harassment.draft.when_where == texts.NOW


def test_whom_specific_offers_the_people_on_duty_and_records_the_choice() -> None:
    e = env()
    draft = report.answer(at(Step.WHOM), Picked("specific"), e).draft
    assert draft.offered == tuple(p.key for p in e.on_call)
    labels = [e.render(c.label) for c in report.prompt(draft, e).choices()]
    assert "Ana (en, es)" in labels
    chosen = report.answer(draft, Picked("person:1"), e)
    assert chosen.target == Step.CONTACT
    assert chosen.draft.person == e.on_call[1].key


def test_whom_except_offers_the_whole_team() -> None:
    e = env()
    draft = report.answer(at(Step.WHOM), Picked("except"), e).draft
    assert len(draft.offered) == len(e.space.responders if e.space else ())


def test_nobody_on_duty_offers_the_whole_team_to_choose_from() -> None:
    e = replace(env(), on_call=())
    draft = report.answer(at(Step.WHOM), Picked("specific"), e).draft
    assert report.prompt(draft, e).text == texts.Q_WHOM_PICK_NOBODY_ON_DUTY
    assert len(draft.offered) == 3


def test_summary_shows_every_answer() -> None:
    e = env()
    draft = replace(at(Step.CONFIRM), involved="Bob", whom=Whom.SPECIFIC, person=Identity("memory:ana"))
    text = e.render(report.prompt(draft, e).text)
    for expected in (
        "Harassment or unwanted contact",
        "It happened to me",
        "Friday, main hall",
        "Bob",
        "He kept following me.",
        "only Ana",
    ):
        assert expected in text


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [Step.DANGER, Step.ROLE, Step.CATEGORY, Step.WHOM, Step.CONTACT, Step.CONFIRM])
def test_text_on_a_choice_step_asks_again_and_changes_nothing(step: Step) -> None:
    draft = at(step)
    result = report.answer(draft, Typed("banana"), env())
    assert result.target == step
    assert result.draft == draft
    assert result.note == texts.PICK_AN_OPTION


@pytest.mark.parametrize("key", ["role:ghost", "cat:unknown", "person:99", "contact:maybe", "lang:xx", "done"])
def test_unknown_or_out_of_place_buttons_change_nothing(key: str) -> None:
    for step in ORDER:
        draft = at(step)
        if key == "done" and step == Step.WHAT:
            continue
        result = report.answer(draft, Picked(key), env())
        assert result.draft == draft
        assert result.target == step


def test_empty_and_oversized_text_is_refused_with_an_explanation() -> None:
    e = replace(env(), max_text=50)
    draft = at(Step.WHAT)
    assert report.answer(draft, Typed("   "), e).note == texts.EMPTY_ANSWER
    long = report.answer(draft, Typed("x" * 51), e)
    assert long.target == Step.WHAT
    assert long.draft == draft
    assert "under 50 characters" in e.render(long.note or "")


def test_done_without_any_details_is_refused() -> None:
    draft = replace(at(Step.WHAT), details=())
    result = report.answer(draft, Picked("done"), env())
    assert result.target == Step.WHAT
    assert result.note == texts.NEED_DETAILS


def test_attachments_are_kept_and_count_as_details() -> None:
    draft = replace(at(Step.WHAT), details=())
    photo = Attachment("photo", "file-1", "photo.jpg", 1000, "image/jpeg")
    with_photo = report.answer(draft, report.Attached(photo, "the badge"), env()).draft
    assert with_photo.attachments == (photo,)
    assert with_photo.details == ("the badge",)
    assert report.answer(with_photo, Picked("done"), env()).target == Step.WHOM


def test_an_attachment_on_another_step_is_kept_and_the_question_repeated() -> None:
    photo = Attachment("photo", "file-1")
    result = report.answer(at(Step.ROLE), report.Attached(photo), env())
    assert result.target == Step.ROLE
    assert result.draft.attachments == (photo,)
    assert result.note == report.ATTACHED


# --- navigation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ORDER)
def test_the_emergency_button_is_on_every_step_and_takes_the_fast_track(step: Step) -> None:
    choices = report.prompt(at(step), env()).choices()
    assert any(c.key == "sos" and c.emergency for c in choices)
    assert report.answer(at(step), Picked("sos"), env()).target == Exit.FAST_TRACK
    assert report.answer(at(step), Typed("SOS"), env()).target == Exit.FAST_TRACK


@pytest.mark.parametrize("step", ORDER)
def test_cancel_works_on_every_step(step: Step) -> None:
    assert "cancel" in keys(at(step))
    assert report.answer(at(step), Picked("cancel"), env()).target == Exit.CANCEL
    assert report.answer(at(step), Typed("cancel"), env()).target == Exit.CANCEL


@pytest.mark.parametrize("step", ORDER[1:])
def test_back_returns_to_the_previous_step(step: Step) -> None:
    assert "back" in keys(at(step))
    result = report.answer(at(step), Picked("back"), env())
    assert result.target == ORDER[ORDER.index(step) - 1]
    assert result.draft.path == tuple(ORDER[: ORDER.index(step) - 1])


def test_back_is_not_offered_on_the_first_step_and_does_nothing_there() -> None:
    first = report.start(SpaceId("demo"), 1)
    assert "back" not in keys(first)
    assert report.answer(first, Picked("back"), env()).target == first.step


def test_back_after_a_skipped_space_question_goes_to_the_step_actually_asked() -> None:
    e = env()
    draft = report.start(SpaceId("demo"), 1)
    draft = report.answer(draft, Picked("no"), e).draft
    back = report.answer(draft, Picked("back"), e)
    assert back.target == Step.DANGER


def test_skip_is_offered_only_where_a_step_is_optional() -> None:
    for step in ORDER:
        offered = "skip" in keys(at(step))
        assert offered == (step in report.OPTIONAL)
    result = report.answer(at(Step.ROLE), Picked("skip"), env())
    assert result.target == Step.ROLE
    assert result.note == texts.PICK_AN_OPTION


def test_a_draft_survives_a_json_round_trip() -> None:
    draft = replace(
        at(Step.CONFIRM),
        attachments=(Attachment("document", "f2", "notes.pdf", 12, "application/pdf"),),
        offered=(Identity("memory:ana"),),
        person=Identity("memory:ana"),
        whom=Whom.EXCEPT,
    )
    assert Draft.from_json(draft.to_json()) == draft
