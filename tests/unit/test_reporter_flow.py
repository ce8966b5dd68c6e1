"""A reporter's conversation as a pure state machine: commands, modes, bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.ids import CaseRef, ChatAddress, Identity, Pseudonym, SpaceId
from bot.domain.model import Attachment, Case, CaseState, Category, Contact, Role, Source, Urgency
from bot.i18n import Catalogs
from bot.messages import (
    AttachmentReceived,
    ButtonRejected,
    ChoicePicked,
    CommandReceived,
    LocationShared,
    Origin,
    TextReceived,
    Undecryptable,
    Unsupported,
)
from flows import reporter, texts
from flows.common import AddToCase, Env, FileCase, Forget, Reply, SetLanguage, UpdateCase, WithdrawCase
from flows.report import Draft, Step
from flows.reporter import Conversation, Mode
from tests.conftest import demo_space

CATALOGS = Catalogs()
NOW = datetime(2027, 8, 1, 10, 0, tzinfo=UTC)
ME = Origin(ChatAddress("memory:rita"), Identity("memory:rita"), language_hint="en")
SPACE = demo_space()


def env(**changes: Any) -> Env:
    base = Env(
        now=NOW,
        render=lambda text: CATALOGS.render(text, "en"),
        spaces=(SPACE,),
        space=SPACE,
        on_call=SPACE.responders,
        languages=("en", "sv", "ar"),
        language_name=CATALOGS.language_name,
    )
    return replace(base, **changes)


def case(ref: str, state: CaseState = CaseState.OPEN, role: Role = Role.AFFECTED) -> Case:
    return Case(
        id=None,
        ref=CaseRef(ref),
        space=SpaceId("demo"),
        state=state,
        urgency=Urgency.NORMAL,
        category=Category.HARASSMENT,
        role=role,
        source=Source.GUIDED,
        language="en",
        reporter=Pseudonym("R-AAAA"),
        contact=Contact.ANONYMOUS,
        created_at=NOW,
        updated_at=NOW,
    )


def step(
    state: dict[str, Any] | None, fact: Any, e: Env | None = None, **kwargs: Any
) -> tuple[Conversation, list[Any]]:
    outcome = reporter.handle(state, fact, e or env(), **kwargs)
    return Conversation.from_json(outcome.state), list(outcome.actions)


def text(value: str) -> TextReceived:
    return TextReceived(ME, value)


def command(name: str, args: str = "") -> CommandReceived:
    return CommandReceived(ME, name, args)


def replies(actions: list[Any]) -> list[str]:
    return [CATALOGS.render(a.text, "en") for a in actions if isinstance(a, Reply)]


def in_report(step_: Step = Step.ROLE) -> dict[str, Any]:
    draft = Draft(space=SpaceId("demo"), step=step_, path=(Step.DANGER,))
    return Conversation(mode=Mode.REPORT, question=3, draft=draft.to_json()).to_json()


# --- commands --------------------------------------------------------------------------------------


def test_start_greets_and_offers_the_menu_with_the_emergency_button() -> None:
    conv, actions = step(None, command("start"))
    assert conv.mode == Mode.IDLE
    reply = actions[-1]
    assert isinstance(reply, Reply)
    assert "Demo Camp" in replies(actions)[0]
    keys = [c.key for row in reply.rows for c in row]
    assert keys == ["menu:report", "menu:status", "menu:help", "menu:language", "sos"]
    assert conv.question == 1


def test_report_without_text_starts_the_guided_report() -> None:
    conv, actions = step(None, command("report"))
    assert conv.mode == Mode.REPORT
    assert Draft.from_json(conv.draft or {}).step == Step.DANGER
    assert replies(actions) == [CATALOGS.render(texts.Q_DANGER, "en")]


def test_quick_report_files_at_once_with_defaults() -> None:
    conv, actions = step(None, command("report", "Someone grabbed my arm at the bar"))
    filed = [a for a in actions if isinstance(a, FileCase)]
    assert len(filed) == 1
    assert filed[0].source == Source.QUICK
    assert filed[0].urgency == Urgency.NORMAL
    draft = Draft.from_json(filed[0].draft)
    assert draft.details == ("Someone grabbed my arm at the bar",)
    assert draft.role == Role.UNKNOWN and draft.category == Category.OTHER
    assert conv.mode == Mode.QUICK


@pytest.mark.parametrize("name", ["emergency", "sos"])
def test_emergency_commands_take_the_fast_track(name: str) -> None:
    conv, actions = step(None, command(name))
    filed = [a for a in actions if isinstance(a, FileCase)]
    assert filed and filed[0].urgency == Urgency.EMERGENCY and filed[0].source == Source.EMERGENCY
    assert conv.mode == Mode.LOCATION


def test_the_emergency_button_works_from_any_old_message() -> None:
    _, actions = step(in_report(), ChoicePicked(ME, "sos", question=1))
    assert any(isinstance(a, FileCase) and a.urgency == Urgency.EMERGENCY for a in actions)


def test_the_fast_track_keeps_what_the_draft_already_says() -> None:
    state = in_report(Step.WHEN_WHERE)
    draft = Draft.from_json(Conversation.from_json(state).draft or {})
    state["draft"] = replace(draft, category=Category.MEDICAL, role=Role.WITNESS).to_json()
    _, actions = step(state, ChoicePicked(ME, "sos", question=3))
    filed = next(a for a in actions if isinstance(a, FileCase))
    assert Draft.from_json(filed.draft).category == Category.MEDICAL


def test_code_word_takes_the_fast_track_discreetly() -> None:
    conv, actions = step(None, text("Could someone bring me a BLUE UMBRELLA please"))
    filed = [a for a in actions if isinstance(a, FileCase)]
    assert filed and filed[0].source == Source.CODE_WORD and filed[0].urgency == Urgency.EMERGENCY
    assert conv.mode == Mode.IDLE
    assert not replies(actions), "the code word path says nothing until the case is stored"


def test_code_word_must_be_whole_words() -> None:
    _, actions = step(None, text("blue umbrellas are nice"))
    assert not any(isinstance(a, FileCase) for a in actions)


def test_status_lists_cases_and_witnesses_only_see_received_or_closed() -> None:
    cases = (
        case("AAA-AAA", CaseState.CLAIMED),
        case("BBB-BBB", CaseState.CLAIMED, Role.WITNESS),
        case("CCC-CCC", CaseState.RESOLVED, Role.WITNESS),
    )
    _, actions = step(None, command("status"), env(cases=cases))
    shown = replies(actions)[0]
    assert "AAA-AAA · Harassment or unwanted contact · being handled" in shown
    assert "BBB-BBB · Harassment or unwanted contact · received" in shown
    assert "CCC-CCC · Harassment or unwanted contact · closed" in shown


def test_help_lists_commands_privacy_and_the_space_contacts() -> None:
    _, actions = step(None, command("help"))
    shown = replies(actions)[0]
    for expected in ("/report", "/emergency", "/forget", "encrypted", "Listening line: +46 8 111 111"):
        assert expected in shown


def test_language_command_with_a_code_sets_it_and_without_one_asks() -> None:
    conv, actions = step(None, command("language", "sv"))
    assert SetLanguage("sv") in actions
    conv, actions = step(None, command("language"))
    assert conv.mode == Mode.LANGUAGE
    keys = [c.key for a in actions if isinstance(a, Reply) for row in a.rows for c in row]
    assert keys[:2] == ["lang:en", "lang:sv"]
    conv, actions = step(None, command("language", "xx"))
    assert conv.mode == Mode.LANGUAGE
    assert "do not have that language" in replies(actions)[0]


def test_cancel_in_a_report_keeps_the_draft_and_report_offers_to_continue() -> None:
    conv, actions = step(in_report(), command("cancel"))
    assert conv.mode == Mode.IDLE and conv.draft is not None
    assert "24 hours" in replies(actions)[0]
    conv, actions = step(conv.to_json(), command("report"))
    assert conv.mode == Mode.RESUME
    conv, actions = step(conv.to_json(), ChoicePicked(ME, "continue", conv.question))
    assert conv.mode == Mode.REPORT
    assert Draft.from_json(conv.draft or {}).step == Step.ROLE


def test_start_over_discards_the_old_draft() -> None:
    conv, _ = step(in_report(Step.CONTACT), command("cancel"))
    conv, _ = step(conv.to_json(), command("report"))
    conv, _ = step(conv.to_json(), ChoicePicked(ME, "restart", conv.question))
    assert Draft.from_json(conv.draft or {}).step == Step.DANGER


def test_cancel_with_nothing_to_cancel_says_so() -> None:
    _, actions = step(None, command("cancel"))
    assert replies(actions) == [CATALOGS.render(texts.NOTHING_TO_CANCEL, "en")]


def test_forget_asks_first_and_erases_only_after_yes() -> None:
    conv, _ = step(None, command("forget"))
    assert conv.mode == Mode.FORGET
    kept, actions = step(conv.to_json(), ChoicePicked(ME, "keep", conv.question))
    assert not any(isinstance(a, Forget) for a in actions) and kept.mode == Mode.IDLE
    _, actions = step(conv.to_json(), ChoicePicked(ME, "erase", conv.question))
    assert any(isinstance(a, Forget) for a in actions)


def test_withdraw_needs_an_own_open_case() -> None:
    _, actions = step(None, command("withdraw", "ZZZ-ZZZ"), env(cases=(case("AAA-AAA"),)))
    assert not any(isinstance(a, WithdrawCase) for a in actions)
    _, actions = step(None, command("withdraw"), env(cases=(case("AAA-AAA"),)))
    assert WithdrawCase(CaseRef("AAA-AAA")) in actions


# --- bad input -------------------------------------------------------------------------------------


def test_unknown_commands_are_explained_and_the_question_repeated() -> None:
    conv, actions = step(in_report(), command("frobnicate"))
    shown = replies(actions)[0]
    assert "/frobnicate" in shown and "/help" in shown
    assert CATALOGS.render(texts.Q_ROLE, "en") in shown
    assert conv.mode == Mode.REPORT and conv.question == 4


def test_a_button_from_an_earlier_question_is_refused_and_the_question_repeated() -> None:
    conv, actions = step(in_report(), ChoicePicked(ME, "role:witness", question=2))
    assert Draft.from_json(conv.draft or {}).role is None
    assert CATALOGS.render(texts.OLD_BUTTON, "en") in replies(actions)[0]


def test_forged_button_data_is_refused_and_changes_nothing() -> None:
    state = in_report()
    conv, actions = step(state, ButtonRejected(ME, "bad signature"))
    assert conv.draft == Conversation.from_json(state).draft
    assert CATALOGS.render(texts.FORGED_BUTTON, "en") in replies(actions)[0]


def test_stickers_and_unreadable_messages_get_a_clear_answer() -> None:
    _, actions = step(in_report(), Unsupported(ME, "sticker"))
    assert CATALOGS.render(texts.STICKER, "en") in replies(actions)[0]
    _, actions = step(None, Undecryptable(ME))
    assert replies(actions) == [CATALOGS.render(texts.CANNOT_READ, "en")]


def test_an_oversized_message_when_idle_is_refused() -> None:
    _, actions = step(None, text("x" * 5000), env(cases=(case("AAA-AAA"),)))
    assert not any(isinstance(a, AddToCase) for a in actions)
    assert "too long" in replies(actions)[0]


# --- follow-ups ------------------------------------------------------------------------------------


def test_a_message_goes_to_the_only_open_case() -> None:
    _, actions = step(None, text("He is back"), env(cases=(case("AAA-AAA"), case("BBB-BBB", CaseState.RESOLVED))))
    assert AddToCase(CaseRef("AAA-AAA"), "reporter", "He is back") in actions


def test_with_several_open_cases_the_reporter_is_asked_which_one() -> None:
    e = env(cases=(case("AAA-AAA"), case("BBB-BBB")))
    conv, actions = step(None, text("He is back"), e)
    assert conv.mode == Mode.WHICH_CASE and conv.held == ("He is back",)
    assert not any(isinstance(a, AddToCase) for a in actions)
    conv, actions = step(conv.to_json(), text("bbb-bbb"), e)
    assert AddToCase(CaseRef("BBB-BBB"), "reporter", "He is back") in actions
    assert conv.mode == Mode.IDLE and conv.held == ()


def test_a_case_not_offered_cannot_be_chosen() -> None:
    e = env(cases=(case("AAA-AAA"), case("BBB-BBB")))
    conv, _ = step(None, text("He is back"), e)
    conv, actions = step(conv.to_json(), ChoicePicked(ME, "case:ZZZ-ZZZ", conv.question), e)
    assert not any(isinstance(a, AddToCase) for a in actions)
    assert conv.mode == Mode.WHICH_CASE


def test_without_open_cases_a_message_shows_the_menu() -> None:
    conv, actions = step(None, text("hello"))
    assert conv.mode == Mode.IDLE
    assert any(isinstance(a, Reply) and a.rows for a in actions)


def test_an_edited_message_is_added_as_a_correction() -> None:
    _, actions = step(None, TextReceived(ME, "It was Tuesday", edited=True), env(cases=(case("AAA-AAA"),)))
    assert AddToCase(CaseRef("AAA-AAA"), "reporter", "✏ It was Tuesday") in actions


def test_location_after_an_emergency_goes_to_that_case() -> None:
    state = Conversation(mode=Mode.LOCATION, focus=CaseRef("AAA-AAA")).to_json()
    conv, actions = step(state, LocationShared(ME, 59.3293, 18.0686), env(cases=(case("AAA-AAA"),)))
    assert AddToCase(CaseRef("AAA-AAA"), "location", "59.329300,18.068600") in actions
    assert conv.mode == Mode.IDLE


def test_typed_location_after_an_emergency_goes_to_that_case() -> None:
    state = Conversation(mode=Mode.LOCATION, focus=CaseRef("AAA-AAA")).to_json()
    _, actions = step(state, text("Room B12, second floor"), env(cases=(case("AAA-AAA"),)))
    assert AddToCase(CaseRef("AAA-AAA"), "location", "Room B12, second floor") in actions


def test_photos_after_filing_are_added_to_the_case() -> None:
    photo = Attachment("photo", "f1")
    _, actions = step(None, AttachmentReceived(ME, photo, "his badge"), env(cases=(case("AAA-AAA"),)))
    assert AddToCase(CaseRef("AAA-AAA"), "attachment", "his badge", photo) in actions


# --- quick report follow-up questions ------------------------------------------------------------


def test_quick_report_questions_update_the_case_and_can_be_skipped() -> None:
    state = Conversation(mode=Mode.QUICK, quick_step="offer", focus=CaseRef("AAA-AAA")).to_json()
    conv, _ = step(state, ChoicePicked(ME, "more", 0))
    assert conv.quick_step == "role"
    conv, actions = step(conv.to_json(), ChoicePicked(ME, "role:witness", conv.question))
    assert UpdateCase(CaseRef("AAA-AAA"), {"role": "witness"}) in actions
    conv, actions = step(conv.to_json(), ChoicePicked(ME, "skip", conv.question))
    assert not any(isinstance(a, UpdateCase) for a in actions) and conv.quick_step == "involved"
    conv, actions = step(conv.to_json(), text("The man with the blue badge"))
    assert UpdateCase(CaseRef("AAA-AAA"), {"involved": "The man with the blue badge"}) in actions
    conv, actions = step(conv.to_json(), ChoicePicked(ME, "contact:none", conv.question))
    assert UpdateCase(CaseRef("AAA-AAA"), {"contact": "none"}) in actions
    assert conv.mode == Mode.IDLE


def test_quick_report_questions_can_be_declined() -> None:
    state = Conversation(mode=Mode.QUICK, quick_step="offer", focus=CaseRef("AAA-AAA")).to_json()
    conv, actions = step(state, ChoicePicked(ME, "stop", 0))
    assert conv.mode == Mode.IDLE and not any(isinstance(a, UpdateCase) for a in actions)


# --- language first, then the message ----------------------------------------------------------


def test_without_a_language_hint_the_language_is_asked_once_then_the_message_replayed() -> None:
    conv, actions = step(None, command("report", "Someone is harassing me"), ask_language=True)
    assert conv.mode == Mode.LANGUAGE
    assert conv.replay == {"command": "report", "args": "Someone is harassing me"}
    assert not any(isinstance(a, FileCase) for a in actions)
    conv, actions = step(conv.to_json(), text("2"))
    assert SetLanguage("sv") in actions
    replayed = reporter.replay_fact(conv.to_json(), ME)
    assert replayed == CommandReceived(ME, "report", "Someone is harassing me")


def test_an_emergency_is_never_held_back_by_the_language_question() -> None:
    _, actions = step(None, command("sos"), ask_language=True)
    assert any(isinstance(a, FileCase) for a in actions)


def test_conversation_state_survives_a_json_round_trip() -> None:
    conv = Conversation(
        Mode.WHICH_CASE, 7, {"step": "role"}, CaseRef("AAA-AAA"), "role", ("x",), (CaseRef("AAA-AAA"),), {"text": "hi"}
    )
    assert Conversation.from_json(conv.to_json()) == conv


@pytest.mark.parametrize("typed", ["SOS", "sos!", "Emergency", "🆘 Emergency", "help me"])
def test_typing_emergency_on_its_own_takes_the_fast_track_from_any_mode(typed: str) -> None:
    for state in (None, in_report()):
        _, actions = step(state, text(typed))
        assert any(isinstance(a, FileCase) and a.urgency == Urgency.EMERGENCY for a in actions), (typed, state)


def test_bare_command_words_work_when_nothing_else_is_going_on() -> None:
    conv, _ = step(None, text("report"))
    assert conv.mode == Mode.REPORT
    _, actions = step(None, text("Status"))
    assert replies(actions) == [CATALOGS.render(texts.status(()), "en")]
    conv, actions = step(in_report(), text("help"))
    assert conv.mode == Mode.REPORT, "inside a report, a word is an answer, not a command"
