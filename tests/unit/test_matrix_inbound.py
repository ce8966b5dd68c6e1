"""Matrix inbound mapping, from event payloads recorded by the transport against a real Synapse.

tests/unit/data/matrix_events.json holds what the transport put in the inbox (decrypted) while real
matrix-nio clients wrote in encrypted rooms; only the random suffixes of the user ids were removed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix.inbound import command_in, strip_reply_fallback, to_facts, worth_recording
from bot.messages import (
    AttachmentReceived,
    CommandReceived,
    LocationShared,
    ReactionAdded,
    TextReceived,
    Undecryptable,
    Unsupported,
)

RECORDED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "matrix_events.json").read_text(encoding="utf-8")
)


def event(name: str) -> dict[str, Any]:
    return json.loads(json.dumps(RECORDED[name]))  # a copy the test may change


def test_a_command_in_a_direct_chat() -> None:
    [fact] = to_facts(event("command"))
    assert isinstance(fact, CommandReceived)
    assert (fact.name, fact.args) == ("report", "Someone at the bar")
    origin = fact.origin
    assert origin.chat == f"matrix:{RECORDED['command']['room']}"
    assert origin.sender == "matrix:@rita:localhost"
    assert origin.private and origin.language_hint is None and origin.sender_name == "Rita"


def test_a_typed_number_is_text_for_the_core_to_match() -> None:
    [fact] = to_facts(event("number"))
    assert fact == TextReceived(fact.origin, "1")


def test_a_reply_loses_its_quoted_fallback_and_keeps_its_target() -> None:
    [fact] = to_facts(event("reply_with_fallback"))
    assert isinstance(fact, TextReceived) and fact.text == "my answer"
    assert (
        fact.origin.reply_to
        == RECORDED["reply_with_fallback"]["event"]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
    )


def test_an_edit_is_the_new_text_marked_edited() -> None:
    [fact] = to_facts(event("edit"))
    assert isinstance(fact, TextReceived) and fact.text == "second version" and fact.edited


def test_a_location_and_an_encrypted_image() -> None:
    [location] = to_facts(event("location"))
    assert isinstance(location, LocationShared)
    assert (location.latitude, location.longitude) == (59.3293, 18.0686)
    [image] = to_facts(event("image"))
    assert isinstance(image, AttachmentReceived)
    assert (image.attachment.kind, image.attachment.name, image.attachment.size) == ("photo", "bruise.jpg", 48213)
    assert image.attachment.mime == "image/jpeg" and image.caption == ""
    assert json.loads(image.attachment.ref)["url"] == "mxc://localhost/abc", "the key travels with the reference"


def test_a_caption_is_the_body_when_a_filename_is_given() -> None:
    payload = event("image")
    payload["event"]["content"]["body"] = "this is what he did"
    [image] = to_facts(payload)
    assert isinstance(image, AttachmentReceived) and image.caption == "this is what he did"


def test_stickers_are_unsupported_and_notices_from_bots_are_ignored() -> None:
    assert [type(f) for f in to_facts(event("sticker"))] == [Unsupported]
    assert to_facts(event("notice")) == []


def test_plaintext_in_an_encrypted_room_is_refused() -> None:
    payload = event("plaintext_in_encrypted_room")
    assert payload["encrypted_room"] and not payload["decrypted"]
    assert to_facts(payload) == []


def test_a_command_in_a_case_thread_knows_its_thread() -> None:
    [fact] = to_facts(event("thread_command"))
    assert isinstance(fact, CommandReceived) and fact.name == "claim" and fact.args == ""
    root = RECORDED["thread_command"]["event"]["content"]["m.relates_to"]["event_id"]
    assert fact.origin.thread == root and not fact.origin.private


def test_reactions_encrypted_or_not_name_their_target() -> None:
    target = RECORDED["reaction"]["event"]["content"]["m.relates_to"]["event_id"]
    [encrypted] = to_facts(event("reaction"))
    assert encrypted == ReactionAdded(encrypted.origin, target, "✅")
    # matrix-nio sends reactions unencrypted; they carry nothing but an emoji, so they count.
    [plain] = to_facts(event("reaction_unencrypted"))
    assert isinstance(plain, ReactionAdded) and plain.emoji == "👍"


def test_an_undecryptable_message_in_a_direct_chat() -> None:
    payload = event("command")
    payload["event"] = {k: payload["event"][k] for k in ("sender", "event_id")} | {"type": "m.room.encrypted"}
    payload["undecryptable"] = True
    assert [type(f) for f in to_facts(payload)] == [Undecryptable]
    assert worth_recording(payload)
    assert not worth_recording(payload | {"private": False}), "the team room is not asked to resend"


def test_only_commands_and_reactions_of_the_team_room_are_recorded() -> None:
    assert worth_recording(event("thread_command")) and worth_recording(event("reaction"))
    chatter = event("thread_command")
    chatter["event"]["content"]["body"] = "I am on my way"
    assert not worth_recording(chatter)
    assert worth_recording(event("text")), "everything in a direct chat"
    membership = event("text")
    membership["event"]["type"] = "m.room.member"
    assert not worth_recording(membership)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"room": "!r:s"},
        {"room": "!r:s", "event": {"sender": "@a:s", "type": "m.reaction", "content": {"m.relates_to": "x"}}},
        {"room": "!r:s", "event": {"sender": "@a:s", "type": "m.room.message", "content": "garbage"}},
        {"room": "!r:s", "event": {"sender": "@a:s", "type": "m.room.message", "content": {"msgtype": 5}}},
        {"room": "!r:s", "event": {"sender": "@a:s", "type": "m.room.message", "content": {"msgtype": "m.location"}}},
    ],
)
def test_malformed_events_never_crash(payload: dict[str, Any]) -> None:
    for fact in to_facts(payload):
        assert isinstance(fact, Unsupported | ReactionAdded | TextReceived)


def test_command_syntax() -> None:
    assert command_in("!ACK k7f-3qx") == ("ack", "k7f-3qx")
    assert command_in("  !reply K7F-3QX We are\non our way ") == ("reply", "K7F-3QX We are\non our way")
    assert command_in("!") is None and command_in("!!!") is None and command_in("Help!") is None
    assert command_in("/report") is None, "Element keeps / for itself; Haven's prefix on Matrix is !"


def test_reply_fallback_is_only_stripped_when_it_is_one() -> None:
    assert strip_reply_fallback("> quoted\n> more\n\nanswer") == "answer"
    assert strip_reply_fallback("> not a fallback\nbecause no blank line") == "> not a fallback\nbecause no blank line"
    assert strip_reply_fallback("plain") == "plain"
