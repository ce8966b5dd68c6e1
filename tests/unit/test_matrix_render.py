"""Matrix rendering: effects to event contents (pure)."""

from __future__ import annotations

import base64
import json

from adapters.matrix.render import (
    PART_LIMIT,
    card,
    edit,
    file,
    message,
    read_choices,
    split_text,
)
from bot.domain.ids import CaseRef, ChatAddress, Identity
from bot.messages import Button, EditCard, PostCard, Send, SendFile

DM = ChatAddress("matrix:!dm:localhost")
ROOM = ChatAddress("matrix:!team:localhost")
REF = CaseRef("K7F-3QX")


def test_choices_become_a_numbered_list_in_the_order_of_the_rows() -> None:
    rows = ((Button("Yes", "yes"), Button("No", "no")), (Button("🆘 Emergency", "sos", emergency=True),))
    [content] = message(Send(DM, "Is anyone in danger right now?", rows, question=3))
    assert content["body"] == "Is anyone in danger right now?\n\n1. Yes\n2. No\n3. 🆘 Emergency"
    assert content["msgtype"] == "m.text" and content["m.mentions"] == {}, "a text never notifies by accident"
    assert read_choices(content["body"]) == ("Is anyone in danger right now?", ["Yes", "No", "🆘 Emergency"])


def test_read_choices_leaves_ordinary_text_alone() -> None:
    assert read_choices("Steps:\n\n1. one\n3. three") == ("Steps:\n\n1. one\n3. three", [])
    assert read_choices("no list") == ("no list", [])


def test_card_buttons_become_command_hints_and_a_card_can_be_acknowledged_by_reaction() -> None:
    buttons = ((Button("✅ Acknowledge", f"ack:{REF}"), Button("🛡 Take it", f"claim:{REF}")),)
    posted = card(PostCard(ROOM, REF, "🟡 K7F-3QX · Harassment", buttons))
    assert posted["body"] == "🟡 K7F-3QX · Harassment\n\n✅ Acknowledge: !ack K7F-3QX / +✅ · 🛡 Take it: !claim K7F-3QX"
    assert "m.relates_to" not in posted, "the card is the root of its thread"
    [page] = message(Send(ChatAddress("matrix:@ana:localhost"), "New case K7F-3QX", buttons))
    assert page["body"].endswith("✅ Acknowledge: !ack K7F-3QX · 🛡 Take it: !claim K7F-3QX"), "no reaction hint in a DM"


def test_a_card_update_is_an_edit_of_the_card() -> None:
    content = edit(EditCard(ROOM, REF, "closed"), "$card")
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$card"}
    assert content["m.new_content"]["body"] == "closed" and content["body"] == "* closed"


def test_a_message_in_a_case_thread() -> None:
    [content] = message(Send(ROOM, "✅ Ana acknowledged K7F-3QX.", case=REF, in_thread=True), "$card")
    relation = content["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == "$card"
    assert relation["m.in_reply_to"] == {"event_id": "$card"}, "clients without threads see a reply"


def test_mentions_notify_with_pills() -> None:
    mentions = (Identity("matrix:@ana:localhost"), Identity("telegram:222"), Identity("matrix:@ben:localhost"))
    [content] = message(Send(ROOM, "Paging Ana, Ben for K7F-3QX.", mentions=mentions))
    assert content["m.mentions"] == {"user_ids": ["@ana:localhost", "@ben:localhost"]}
    assert '<a href="https://matrix.to/#/@ana:localhost">' in content["formatted_body"]
    assert content["body"].endswith("@ana:localhost, @ben:localhost")
    assert content["format"] == "org.matrix.custom.html"


def test_html_in_a_text_is_escaped_in_the_formatted_body() -> None:
    [content] = message(Send(ROOM, "<b>not bold</b>", mentions=(Identity("matrix:@ana:localhost"),)))
    assert "<b>" not in content["formatted_body"] and "&lt;b&gt;" in content["formatted_body"]


def test_long_texts_are_split_so_that_each_encrypted_event_fits() -> None:
    text = "\n".join(f"Line {i}: " + "я" * 500 for i in range(60))  # Cyrillic: 6 escaped bytes a letter
    parts = message(Send(DM, text, ((Button("✔ Done", "done"),),)))
    assert len(parts) > 1
    assert "\n".join(p["body"] for p in parts).startswith(text)
    assert parts[-1]["body"].endswith("\n\n1. ✔ Done"), "the options come with the last part"
    for part in parts:
        plaintext = json.dumps({"type": "m.room.message", "content": part, "room_id": "!dm:localhost"})
        ciphertext = base64.b64encode(plaintext.encode())  # Megolm: base64 of about the same length
        assert len(ciphertext) < 60_000
    one_line = "🙂" * 30_000  # no line breaks at all: cut anywhere, never inside a character
    pieces = split_text(one_line)
    assert "".join(pieces) == one_line and all(len(json.dumps(p)) - 2 <= PART_LIMIT for p in pieces)


def test_a_file_in_an_encrypted_room_carries_its_key() -> None:
    effect = SendFile(ROOM, "export.csv", "text/csv", b"a,b\n", caption="Post-incident export")
    keys = {"key": {"k": "secret"}, "iv": "x", "hashes": {"sha256": "y"}, "v": "v2"}
    content = file(effect, "mxc://localhost/f", keys)
    assert content["file"]["url"] == "mxc://localhost/f" and content["file"]["key"] == {"k": "secret"}
    assert "url" not in content and content["body"] == "Post-incident export" and content["info"]["size"] == 4
    assert file(effect, "mxc://localhost/f", None)["url"] == "mxc://localhost/f"
