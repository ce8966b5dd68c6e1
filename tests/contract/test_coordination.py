"""Coordinator commands, verbal reports and the post-incident review (SPEC 4.5, 5, 6), on every transport."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.test_journeys import guided_report
from tests.harness import Harness, reference_in

pytestmark = pytest.mark.asyncio

ADMIN_COMMANDS = [
    ("team", "list"),
    ("invite", '"Dana"'),
    ("rota", "show"),
    ("override", "Ana now 2h for Ben"),
    ("policy", "show"),
    ("contacts", ""),
    ("codeword", ""),
    ("ban", "list"),
    ("pause", "Back at 14:00"),
    ("resume", ""),
    ("stats", ""),
    ("export", ""),
    ("audit", ""),
]


@pytest.mark.parametrize(("name", "args"), ADMIN_COMMANDS)
async def test_admin_commands_are_refused_to_responders_and_strangers(harness: Harness, name: str, args: str) -> None:
    ref = await guided_report(harness)
    for who in ("ana", "mallory"):
        before = len(harness.received(who))
        await harness.command(who, name, args)
        answers = harness.received(who)[before:]
        assert answers == ["This command is for the space's coordinators."], (who, answers)
        assert ref not in answers[0]
    before = len(harness.room_texts())
    await harness.room_command("ana", name, args)
    assert harness.room_texts()[before:] == ["This command is for the space's coordinators."]
    assert not await harness.files("ana") and not await harness.files("mallory")


async def test_team_add_list_and_remove_say_where_values_came_from(harness: Harness) -> None:
    await harness.command("cora", "team", "list")
    listing = harness.last("cora")
    assert "(from the configuration file)" in listing and "Ana (en, es)" in listing
    await harness.command("cora", "team", f'add {harness.address("dana")} "Dana" en,fr')
    assert "Added Dana (en, fr)" in harness.last("cora")
    await harness.command("cora", "team", "list")
    assert "Dana (en, fr)" in harness.last("cora") and "(changed by Cora at" in harness.last("cora")
    await harness.command("dana", "cases")
    assert "Open cases in Demo Camp" in harness.last("dana") or "No open cases" in harness.last("dana")
    await harness.command("cora", "team", "remove Dana")
    assert "Removed Dana" in harness.last("cora")
    await harness.command("dana", "cases")
    assert harness.last("dana") == "This command is for the response team."


async def test_an_invite_adds_a_responder_once(harness: Harness) -> None:
    await harness.command("cora", "invite", '"Dana" en,fr')
    reply = harness.last("cora")
    code = reply.split("invite-")[1].split()[0].strip(".,")
    await harness.command("dana", "start", f"invite-{code}")
    assert "Welcome to the response team of Demo Camp, Dana" in harness.last("dana")
    assert "Dana joined the team with an invite" in harness.last("cora")
    await harness.command("eve", "start", f"invite-{code}")
    assert "not valid any more" in harness.last("eve")
    await harness.command("eve", "cases")
    assert harness.last("eve") == "This command is for the response team."


async def test_rota_set_show_and_clear(harness: Harness) -> None:
    await harness.command("cora", "rota", "set Ana 2027-08-01T08:00 2027-08-01T20:00; Ben mon-sun 20:00-08:00")
    shown = harness.last("cora")
    assert "Sun 01 Aug 08:00 – Sun 20:00  Ana" in shown
    assert "On call now in Demo Camp: Ana" in shown
    assert "Next, from 20:00: Ben" in shown
    await harness.command("cora", "rota", "set Zed 2027-08-01T08:00 2027-08-01T20:00")
    assert "There is nobody called Zed" in harness.last("cora")
    await harness.command("cora", "rota", "set Ana tomorrow-ish")
    assert "I could not read the shift" in harness.last("cora") and "rota set" in harness.last("cora")
    await harness.command("cora", "rota", "clear")
    assert "everyone in the team is on call" in harness.last("cora")


async def test_rota_show_picture_sends_a_png(harness: Harness) -> None:
    await harness.command("cora", "rota", "set Ana 2027-08-01T08:00 2027-08-01T20:00")
    await harness.command("cora", "rota", "show picture")
    files = await harness.files("cora")
    assert files and files[-1][0].endswith(".png")
    assert files[-1][1].startswith(b"\x89PNG\r\n\x1a\n")


async def test_overrides_replace_someone_and_refuse_overlaps(harness: Harness) -> None:
    await harness.command("cora", "override", "Ana now 2h for Ben")
    assert "There is no rota" in harness.last("cora")
    await harness.command("cora", "rota", "set Ben 2027-08-01T08:00 2027-08-01T20:00")
    await harness.command("cora", "override", "Ana now 2h for Ben")
    assert "Ana is on call from" in harness.last("cora") and "(Ben)" in harness.last("cora")
    await harness.command("ana", "oncall")
    assert "On call now in Demo Camp: Ana" in harness.last("ana")
    await harness.command("cora", "override", "Ana 2027-08-01T13:00 2027-08-01T15:00")
    assert "already has an override" in harness.last("cora")
    await harness.command("cora", "override", "Ana soon forever")
    assert "override Ana 2027-08-01T10:00" in harness.last("cora"), "an example of the right form"


async def test_policy_show_and_set_and_a_bad_policy_keeps_the_old_one(harness: Harness) -> None:
    await harness.command("cora", "policy", "show")
    assert (
        "0s → oncall, 5m → oncall, 10m → team, 15m → coordinators; repeat every 15m (from the configuration file)"
        in harness.last("cora")
    )
    await harness.command("cora", "policy", "set normal 0s:oncall 2m:team repeat 5m")
    assert "normal: 0s → oncall, 2m → team; repeat every 5m (changed by Cora" in harness.last("cora")
    await harness.command("cora", "policy", "set normal 0s:oncall 5m:nobody")
    assert "cannot be used, and the previous one stays in force" in harness.last("cora")
    await harness.command("cora", "policy", "set normal 0s:oncall 5x:team")
    assert "'5x' is not a duration" in harness.last("cora")
    await harness.command("cora", "policy", "show")
    assert "normal: 0s → oncall, 2m → team; repeat every 5m" in harness.last("cora")


async def test_contacts_and_code_word_changes_reach_reporters(harness: Harness) -> None:
    await harness.command("cora", "contacts", 'add legal "Legal clinic: +46 8 222 222"')
    assert "Legal clinic: +46 8 222 222" in harness.last("cora")
    await harness.command("rita", "help")
    assert "Legal clinic: +46 8 222 222" in harness.last("rita")
    await harness.command("cora", "codeword", 'set "red balloon"')
    assert "red balloon" in harness.last("cora")
    await harness.say("rita", "is the red balloon still there?")
    assert harness.last("rita") == "OK, thanks. Noted."
    assert any("EMERGENCY" in t for t in harness.received("ana"))


async def test_bans_link_reports_and_raise_their_urgency(harness: Harness) -> None:
    await harness.command("cora", "ban", 'add "John Smith (jsmith)" for 3d because harassment at a past event')
    assert "Ban #1 added for John Smith (jsmith)" in harness.last("cora")
    await harness.command("cora", "ban", "list")
    assert "#1 John Smith (jsmith)" in harness.last("cora") and "harassment at a past event" in harness.last("cora")
    await harness.command("rita", "report")
    for answer in ("No", "I saw it happen", "A banned person is present"):
        await harness.choose("rita", answer)
    await harness.say("rita", "Now, at the registration desk")
    await harness.say("rita", "I think it is jsmith again")
    await harness.say("rita", "He is talking to people near the entrance")
    await harness.choose("rita", "✔ Done")
    await harness.choose("rita", "Anyone on duty")
    await harness.choose("rita", "Yes, contact me here, but keep me anonymous")
    await harness.choose("rita", "✔ Send report")
    card = harness.card_texts()[-1]
    assert "Linked to event ban #1" in card and "Urgency: high" in card
    await harness.command("cora", "ban", "check Alice Example; John Smith; Bob")
    assert "1 of 3 names match an active ban" in harness.last("cora")
    await harness.command("cora", "ban", "remove 1")
    assert "Ban #1 removed" in harness.last("cora")
    await harness.command("cora", "ban", "add")
    assert "ban add" in harness.last("cora")


async def test_pausing_intake_tells_reporters_but_emergencies_still_come_through(harness: Harness) -> None:
    await harness.command("cora", "pause", "The team is on a break until 14:00.")
    assert any("New reports are paused" in t for t in harness.room_texts())
    await harness.command("rita", "report")
    assert "not taking new reports" in harness.last("rita") and "until 14:00" in harness.last("rita")
    await harness.command("rita", "sos")
    assert "alerting the response team now" in harness.last("rita")
    await harness.command("cora", "resume")
    await harness.command("rita", "report")
    assert harness.last("rita") == "Is anyone in danger right now?"


async def test_stats_count_cases_and_time_to_acknowledge(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.advance(timedelta(minutes=3))
    await harness.command("ana", "ack", ref)
    await harness.command("rita", "report", "Someone shouted at me")
    await harness.command("cora", "stats")
    stats = harness.last("cora")
    assert "Demo Camp: 2 cases, 2 open." in stats
    assert "Harassment or unwanted contact: 1" in stats and "Something else: 1" in stats
    assert "median 3.0 min, worst 3.0 min" in stats


async def test_the_export_is_anonymised(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("ana", "claim", ref)
    await harness.command("ana", "resolve", f"{ref} action-taken")
    await harness.command("cora", "export")
    files = dict(await harness.files("cora"))
    document = next(data for name, data in files.items() if name.endswith(".md")).decode()
    chart = next(data for name, data in files.items() if name.endswith(".png"))
    assert chart.startswith(b"\x89PNG")
    assert "# Post-incident report: Demo Camp" in document
    assert "## Issues and bottlenecks" in document and "## Lessons learned" in document and "## Suggestions" in document
    assert "action taken: 1" in document
    for secret in ("green jacket", "followed me", "lobby", "Ana", "Ben", "rita", harness.address("rita"), ref):
        assert secret not in document, secret


async def test_audit_shows_who_read_and_changed_what(harness: Harness) -> None:
    ref = await guided_report(harness)
    await harness.command("ana", "claim", ref)
    await harness.command("cora", "audit", ref)
    audit = harness.last("cora")
    assert "case.filed" in audit and "Ana: case.claimed" in audit and "Ana: case.content.read" in audit


async def test_a_verbal_report_is_recorded_and_signed_off_by_the_reporter(harness: Harness) -> None:
    await harness.command("ana", "newreport")
    await harness.choose("ana", "Hostile or inappropriate behaviour")
    await harness.say("ana", "Yesterday evening at the dinner")
    await harness.choose("ana", "Skip")
    await harness.say("ana", "Someone shouted insults at Rita during dinner")
    await harness.choose("ana", "Skip")
    assert "Please check the record" in harness.last("ana")
    await harness.choose("ana", "✔ Save")
    saved = harness.last("ana")
    ref = reference_in(saved)
    code = saved.split("signoff-")[1].split()[0].strip(".,·")
    assert "not signed off yet" in harness.card_texts()[-1]
    await harness.command("rita", "start", f"signoff-{code}")
    assert "Someone shouted insults at Rita during dinner" in harness.last("rita")
    await harness.choose("rita", "✔ Yes, it is right")
    assert "The record is confirmed" in harness.last("rita")
    assert "signed off by the reporter" in harness.card_texts()[-1]
    assert any(f"confirmed the written record of {ref}" in t for t in harness.received("ana"))


async def test_closing_a_case_offers_the_review_and_a_self_care_note(harness: Harness) -> None:
    await harness.command("rita", "report", "Someone hit me in the corridor")
    ref = reference_in(harness.received("rita")[-2])
    await harness.choose("rita", "No, that is all")
    await harness.command("ana", "claim", ref)
    await harness.command("ana", "resolve", f"{ref} referred")
    assert "Post-incident review for" in "\n".join(harness.received("ana")[-3:])
    await harness.say("ana", "Yes, venue security helped quickly")
    await harness.choose("ana", "Skip")
    await harness.say("ana", "Calling security early")
    assert "Which actions or steps worked?" not in harness.last("ana")
    await harness.choose("ana", "No, that is all")
    assert "Thank you. You can stop here." in harness.last("ana")
    await harness.command("cora", "export", "with-text")
    document = next(data for name, data in (await harness.files("cora")) if name.endswith(".md")).decode()
    assert "venue security helped quickly" in document and "Calling security early" in document


async def test_the_self_care_note_follows_a_serious_case(harness: Harness) -> None:
    await harness.command("rita", "sos")
    ref = reference_in(harness.last("rita"))
    await harness.command("ben", "claim", ref)
    await harness.command("ben", "resolve", f"{ref} action-taken")
    assert any("talk to someone you trust" in t and "Listening line" in t for t in harness.received("ben"))


async def test_ban_check_takes_a_registration_list_file(harness: Harness) -> None:
    await harness.command("cora", "ban", 'add "John Smith (jsmith)" for 3d')
    await harness.command("cora", "ban", "check")
    assert "Send the registration list as a file" in harness.last("cora")
    registrations = "name,username,email\nAlice Example,alice,alice@example.org\nJohn Smith,jsm,john@example.org\n"
    await harness.send_file("cora", "registrations.csv", registrations.encode())
    result = harness.last("cora")
    assert "1 of 3 names match an active ban" in result and "John Smith" in result and "#1" in result
    await harness.send_file("cora", "later.csv", b"John Smith\n")
    assert "1 of 3 names" in harness.last("cora") or "Added" not in harness.last("cora"), "only the next file is read"


async def test_a_file_that_cannot_be_read_is_explained(harness: Harness) -> None:
    await harness.command("cora", "ban", "check")
    await harness.send_file("cora", "empty.txt", b"")
    assert "I could not read that file" in harness.last("cora")
