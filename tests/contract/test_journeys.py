"""Reporter and responder journeys (SPEC 4 and 5), the same on every transport.

The ``harness`` fixture (tests/contract/conftest.py) runs each journey on every transport registered in
``tests.harness.FACTORIES``: the memory transport, Telegram through the fake Bot API server, and
Matrix through a real Synapse.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.harness import Harness, reference_in

pytestmark = pytest.mark.asyncio


async def guided_report(
    h: Harness,
    who: str = "rita",
    role: str = "It happened to me",
    contact: str = "Yes, contact me here, but keep me anonymous",
) -> str:
    await h.command(who, "report")
    await h.choose(who, "No")
    await h.choose(who, role)
    await h.choose(who, "Harassment or unwanted contact")
    await h.say(who, "Yesterday at 22:00, in the lobby")
    await h.say(who, "A man in a green jacket")
    await h.say(who, "He followed me to my room and would not leave.")
    await h.choose(who, "✔ Done")
    await h.choose(who, "Anyone on duty")
    await h.choose(who, contact)
    await h.choose(who, "✔ Send report")
    return reference_in(h.last(who))


# --- SPEC 4.1 guided report --------------------------------------------------------------------------


async def test_guided_report_gives_a_receipt_and_exactly_one_card(harness: Harness) -> None:
    ref = await guided_report(harness)
    receipt = harness.last("rita")
    assert "Your report is received and stored safely" in receipt
    assert f"Your reference is {ref}" in receipt
    assert "within 5 minutes" in receipt
    assert "Ambulance and police: 112" in receipt
    cards = harness.card_texts()
    assert len(cards) == 1
    assert ref in cards[0] and "Harassment or unwanted contact" in cards[0]


async def test_the_card_shows_no_identity_and_no_free_text(harness: Harness) -> None:
    await guided_report(harness)
    for text in [*harness.card_texts(), *harness.room_texts()]:
        for secret in ("rita", "green jacket", "followed me", "lobby", "22:00"):
            assert secret not in text.lower()


async def test_the_summary_is_shown_before_sending(harness: Harness) -> None:
    await harness.command("rita", "report")
    for answer in ("No", "I saw it happen", "Something else"):
        await harness.choose("rita", answer)
    await harness.say("rita", "Last night")
    await harness.choose("rita", "Skip")
    await harness.say("rita", "Loud threats near the entrance")
    await harness.choose("rita", "✔ Done")
    await harness.choose("rita", "Anyone on duty")
    await harness.choose("rita", "No, please do not contact me")
    summary = harness.last("rita")
    for expected in ("I saw it happen", "Last night", "Loud threats near the entrance", "No, please do not contact me"):
        assert expected in summary
    assert harness.card_texts() == []


async def test_a_reporter_can_choose_who_handles_the_report(harness: Harness) -> None:
    await harness.command("rita", "report")
    for answer in ("No", "It happened to me", "Hostile or inappropriate behaviour"):
        await harness.choose("rita", answer)
    await harness.say("rita", "Today")
    await harness.choose("rita", "Skip")
    await harness.say("rita", "Insults during the talk")
    await harness.choose("rita", "✔ Done")
    await harness.choose("rita", "A specific person")
    await harness.choose("rita", "Ben (en, sv)")
    await harness.choose("rita", "Yes, contact me here, but keep me anonymous")
    await harness.choose("rita", "✔ Send report")
    ref = reference_in(harness.last("rita"))
    assert any(ref in text for text in harness.received("ben"))
    assert not any(ref in text for text in harness.received("ana"))


async def test_excluding_a_responder_keeps_them_away_from_the_case(harness: Harness) -> None:
    await harness.command("rita", "report")
    for answer in ("No", "It happened to me", "Harassment or unwanted contact"):
        await harness.choose("rita", answer)
    await harness.say("rita", "Today")
    await harness.choose("rita", "Skip")
    await harness.say("rita", "Someone from the team made me uncomfortable")
    await harness.choose("rita", "✔ Done")
    await harness.choose("rita", "Anyone except a specific person")
    await harness.choose("rita", "Ana (en, es)")
    await harness.choose("rita", "Yes, contact me here, but keep me anonymous")
    await harness.choose("rita", "✔ Send report")
    ref = reference_in(harness.last("rita"))
    assert not any(ref in text for text in harness.received("ana"))
    assert all(ref not in text for text in harness.card_texts()), "a restricted case shows no reference in the room"
    await harness.command("ana", "claim", ref)
    assert "I do not know a case" in harness.last("ana")
    await harness.command("ben", "claim", ref)
    assert "Someone from the team made me uncomfortable" in harness.last("ben")


async def test_naming_a_responder_as_involved_excludes_them(harness: Harness) -> None:
    await harness.command("rita", "report")
    for answer in ("No", "It happened to me", "Harassment or unwanted contact"):
        await harness.choose("rita", answer)
    await harness.say("rita", "Today")
    await harness.say("rita", "It was Ben from the team")
    await harness.say("rita", "He made comments about my body")
    await harness.choose("rita", "✔ Done")
    await harness.choose("rita", "Anyone on duty")
    await harness.choose("rita", "Yes, contact me here, but keep me anonymous")
    await harness.choose("rita", "✔ Send report")
    ref = reference_in(harness.last("rita"))
    assert not any(ref in text for text in harness.received("ben"))
    await harness.command("ben", "cases")
    assert ref not in harness.last("ben")


# --- quick report, emergency, code word --------------------------------------------------------------


async def test_quick_report_files_at_once_and_offers_questions(harness: Harness) -> None:
    await harness.command("rita", "report", "A man keeps touching people at the bar")
    texts = harness.received("rita")
    ref = reference_in(texts[-2])
    assert "stored safely" in texts[-2]
    assert "A few more answers help the team" in texts[-1]
    assert len(harness.card_texts()) == 1
    await harness.choose("rita", "Answer a few questions")
    await harness.choose("rita", "I saw it happen")
    await harness.choose("rita", "Physical or sexual assault")
    assert any("Physical or sexual assault" in card for card in harness.card_texts()), "the card follows the answers"
    assert ref in harness.card_texts()[0]


async def test_emergency_pages_everyone_first_and_asks_where_the_reporter_is(harness: Harness) -> None:
    await harness.command("rita", "emergency")
    reply = harness.last("rita")
    ref = reference_in(reply)
    assert "alerting the response team now" in reply
    assert "Ambulance and police: 112" in reply
    assert "Where are you?" in reply
    for responder in ("ana", "ben", "cora"):
        page = harness.last(responder)
        assert "EMERGENCY" in page and ref in page
    await harness.say("rita", "Second floor, room B12")
    assert "has your location" in harness.last("rita")
    assert any("Second floor, room B12" in text for text in harness.received("ana")), "paged people get the location"
    await harness.press_card("ben", ref, "ack")
    assert "has seen your emergency report" in harness.last("rita")


async def test_emergency_pages_repeat_until_acknowledged(harness: Harness) -> None:
    await harness.command("rita", "sos")
    ref = reference_in(harness.last("rita"))
    pages = len(harness.received("ana"))
    await harness.advance(timedelta(minutes=1, seconds=1))
    assert len(harness.received("ana")) == pages + 1
    await harness.command("ana", "ack", ref)
    await harness.advance(timedelta(minutes=5))
    assert not any("EMERGENCY" in t for t in harness.received("ana")[pages + 1 :])


async def test_the_code_word_raises_an_emergency_discreetly(harness: Harness) -> None:
    await harness.say("rita", "could you bring my blue umbrella")
    assert harness.received("rita") == ["OK, thanks. Noted."]
    assert any("EMERGENCY" in text for text in harness.received("ana"))


# --- SPEC 4.2 after filing -------------------------------------------------------------------------


async def test_follow_ups_reach_the_right_case_and_its_handlers(harness: Harness) -> None:
    first = await guided_report(harness)
    await harness.command("rita", "report", "Also, someone took my badge")
    await harness.choose("rita", "No, that is all")
    second = reference_in(harness.received("rita")[-3])
    await harness.command("ana", "claim", second)
    await harness.say("rita", "The badge was found in the cloakroom")
    assert harness.last("rita").startswith("Which report is this about?")
    await harness.choose("rita", next(label for label in harness.buttons("rita") if second in label))
    assert f"Added to your report {second}" in harness.last("rita")
    assert "The badge was found in the cloakroom" in harness.last("ana")
    assert first != second


async def test_status_shows_the_reporters_cases(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("rita", "status")
    assert f"{ref} · Harassment or unwanted contact · received, waiting for the team" in harness.last("rita")


async def test_forget_erases_the_link_and_says_what_remains(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("rita", "forget")
    await harness.choose("rita", "Yes, erase")
    assert f"stay with the team without any link to you: {ref}" in harness.last("rita")
    await harness.command("ana", "claim", ref)
    await harness.command("ana", "reply", f"{ref} Can we talk?")
    assert "can no longer be reached" in harness.last("ana")


async def test_a_witness_hears_received_and_closed_only(harness: Harness) -> None:
    ref = await guided_report(harness, role="I saw it happen")
    before = len(harness.received("rita"))
    await harness.press_card("ana", ref, "ack")
    await harness.press_card("ana", ref, "claim")
    assert len(harness.received("rita")) == before
    await harness.command("ana", "resolve", f"{ref} action-taken")
    assert harness.received("rita")[before:] == [f"Your report {ref} is now closed. Thank you for telling us."]


async def test_the_affected_person_hears_when_the_case_is_taken(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.press_card("ana", ref, "claim")
    assert f"Someone from the team has taken your report {ref}" in harness.last("rita")


# --- SPEC 5 responders -------------------------------------------------------------------------------


async def test_claiming_sends_the_details_privately_and_replies_are_relayed_anonymously(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.press_card("ana", ref, "claim")
    details = harness.last("ana")
    assert "He followed me to my room" in details and "A man in a green jacket" in details
    await harness.command("ana", "reply", f"{ref} We are on our way. Where can we meet you?")
    assert harness.last("rita") == "Response team: We are on our way. Where can we meet you?"
    assert "Ana" not in harness.last("rita")
    await harness.say("rita", "At the info desk")
    assert "At the info desk" in harness.last("ana")


async def test_notes_never_reach_the_reporter(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("ana", "claim", ref)
    before = harness.received("rita")
    await harness.command("ana", "note", f"{ref} Talked to venue security")
    assert "Note added" in harness.last("ana")
    assert harness.received("rita") == before


async def test_the_card_updates_in_place(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.press_card("ana", ref, "ack")
    assert "acknowledged, nobody has taken it yet" in harness.card_texts()[0]
    await harness.press_card("ben", ref, "claim")
    assert "being handled" in harness.card_texts()[0] and "Handling: Ben" in harness.card_texts()[0]
    await harness.room_command("ben", "resolve", f"{ref} no-action")
    assert "closed" in harness.card_texts()[0]
    assert len(harness.card_texts()) == 1


async def test_strangers_are_refused_without_learning_anything(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("mallory", "claim", ref)
    refusal = harness.last("mallory")
    assert refusal == "This command is for the response team."
    await harness.room_command("mallory", "cases")
    assert harness.room_texts()[-1] == "This command is for the response team."


async def test_resolve_needs_an_outcome(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("ana", "claim", ref)
    await harness.command("ana", "resolve", ref)
    assert "Please give an outcome: action-taken, no-action, invalid, referred, duplicate" in harness.last("ana")
    await harness.command("ana", "resolve", "")
    assert "Please give the case reference" in harness.last("ana")
    await harness.command("ana", "ack", "ZZZ-ZZZ")
    assert "I do not know a case ZZZ-ZZZ" in harness.last("ana")


# --- bad input ---------------------------------------------------------------------------------------


async def test_bad_input_gets_an_explanation_and_the_question_again(harness: Harness) -> None:
    await harness.command("rita", "report")
    await harness.choose("rita", "No")
    await harness.command("rita", "frobnicate")
    assert "I do not know the command" in harness.last("rita") and "frobnicate" in harness.last("rita")
    assert harness.last("rita").endswith("What best describes you?")
    await harness.say("rita", "x" * 5000)
    assert "too long" in harness.last("rita")
    await harness.say("rita", "purple")
    assert "Please choose one of the options" in harness.last("rita")
    await harness.choose("rita", "It happened to me")
    assert harness.last("rita").startswith("What kind of incident is it?")


async def test_a_button_from_an_earlier_question_is_refused(harness: Harness) -> None:
    if not harness.has_buttons:
        pytest.skip("numbered lists always answer the current question")
    await harness.command("rita", "report")
    await harness.choose("rita", "No")
    await harness.choose_earlier("rita", "Yes")
    assert "earlier question" in harness.last("rita")
    assert harness.last("rita").endswith("What best describes you?")
    assert harness.card_texts() == [], "the old button did not raise an emergency"


async def test_a_reporter_without_a_known_language_is_asked_first(harness: Harness) -> None:
    await harness.command("rita", "report", "Someone shouted at me", language=None)
    assert "English" in harness.buttons("rita")
    await harness.choose("rita", "English")
    texts = harness.received("rita")
    assert texts[-3] == "I will write to you in English from now on."
    assert "stored safely" in texts[-2], "the held message is answered after the confirmation"
