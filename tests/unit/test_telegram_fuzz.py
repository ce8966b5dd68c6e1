"""Property-based fuzzing of the Telegram inbound mapping: any update, however odd, maps to facts or
to nothing, and never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.telegram import buttons
from adapters.telegram.inbound import to_facts

SECRET = bytes(range(32))
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20) | st.floats(allow_nan=False)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
user = st.fixed_dictionaries(
    {"id": st.integers(1, 10**10) | st.text(max_size=5)},
    optional={
        "first_name": st.text(max_size=10),
        "language_code": st.text(max_size=6) | st.none(),
        "is_bot": st.booleans(),
    },
)
chat = st.fixed_dictionaries(
    {"id": st.integers(-(10**13), 10**10)},
    optional={"type": st.sampled_from(["private", "group", "supergroup", "channel", "x"]), "is_forum": st.booleans()},
)
entity = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["bot_command", "mention", "url", "bold"]),
        "offset": st.integers(-2, 30),
        "length": st.integers(-2, 30),
    }
)
message = st.fixed_dictionaries(
    {"message_id": st.integers(1, 10**6), "chat": chat},
    optional={
        "from": user,
        "text": st.text(max_size=40)
        | st.sampled_from(["/start", "/report hi", "/ack@haven_test_bot K7F-3QX", "/x@other y"]),
        "entities": st.lists(entity, max_size=3),
        "caption": st.text(max_size=20),
        "photo": st.lists(
            st.fixed_dictionaries({"file_id": st.text(max_size=8)}, optional={"file_size": st.integers(0, 10**7)}),
            max_size=3,
        ),
        "document": st.fixed_dictionaries(
            {},
            optional={
                "file_id": st.text(max_size=8),
                "file_name": st.text(max_size=8),
                "mime_type": st.text(max_size=8),
            },
        ),
        "location": st.fixed_dictionaries(
            {}, optional={"latitude": st.floats(-200, 200), "longitude": st.floats(-200, 200)}
        ),
        "sticker": anything,
        "message_thread_id": st.integers(0, 1000),
        "reply_to_message": st.fixed_dictionaries({}, optional={"message_id": st.integers(0, 10)}),
        "is_topic_message": st.booleans(),
    },
)
callback = st.fixed_dictionaries(
    {"id": st.text(max_size=6)},
    optional={
        "from": user,
        "message": message,
        "data": st.text(max_size=70)
        | st.builds(
            lambda k, q: buttons.sign(SECRET, "5001", k, q),
            st.sampled_from(["sos", "ack:K7F-3QX", "role:witness"]),
            st.none() | st.integers(0, 9),
        ),
    },
)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(0, 10**9)},
    optional={
        "message": message,
        "edited_message": message,
        "callback_query": callback,
        "my_chat_member": anything,
        "poll": anything,
    },
) | st.dictionaries(st.text(max_size=15), anything, max_size=4)


@settings(max_examples=400, deadline=None)
@given(updates, st.none() | st.just("haven_test_bot"))
def test_any_update_maps_to_facts_or_nothing_and_never_raises(update: dict[str, Any], username: str | None) -> None:
    facts = to_facts(update, SECRET, username)
    assert isinstance(facts, list)
    for fact in facts:
        assert fact.origin.chat.startswith("telegram:") and fact.origin.sender.startswith("telegram:")
