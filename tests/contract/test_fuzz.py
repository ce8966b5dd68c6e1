"""Property-based fuzzing (hypothesis): random updates never crash the service and never leak a case."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.i18n import Catalogs
from tests.conftest import demo_space
from tests.contract.test_journeys import guided_report
from tests.harness import memory_haven

SECRET = "followed me to my room"
PEOPLE = ["mallory", "walt", "ana", "cora", "rita"]
COMMANDS = [
    "start",
    "report",
    "sos",
    "status",
    "help",
    "language",
    "cancel",
    "forget",
    "withdraw",
    "ack",
    "claim",
    "join",
    "leave",
    "reply",
    "note",
    "resolve",
    "reopen",
    "cases",
    "oncall",
    "newreport",
    "team",
    "rota",
    "override",
    "policy",
    "ban",
    "stats",
    "export",
    "audit",
    "related",
    "block",
    "nonsense",
]
KEY_PREFIXES = [
    "ack",
    "claim",
    "join",
    "case",
    "signoff:yes",
    "signoff:fix",
    "role",
    "cat",
    "contact",
    "lang",
    "menu",
    "person",
    "space",
    "sos",
    "back",
    "skip",
    "cancel",
    "done",
    "send",
    "yes",
    "no",
    "erase",
    "more",
    "stop",
]
CATALOGS = Catalogs()

texts = st.text(max_size=60) | st.sampled_from(["", "1", "2", "99", "blue umbrella", "x" * 5000, "K7F-3QX"])


@st.composite
def payloads(draw: st.DrawFn, ref: str) -> dict[str, Any]:
    sender = draw(st.sampled_from(PEOPLE))
    chat = draw(st.sampled_from([f"memory:{sender}", "memory:!team", "memory:!random", f"memory:{sender}"]))
    base = {
        "chat": chat,
        "sender": f"memory:{sender}",
        "private": not chat.startswith("memory:!"),
        "lang": draw(st.sampled_from(["en", "sv", "ar", None, "xx-YY"])),
    }
    kind = draw(
        st.sampled_from(
            ["text", "command", "choice", "location", "attachment", "reaction", "sticker", "forged", "undecryptable"]
        )
    )
    if kind == "command":
        args = draw(st.sampled_from(["", ref, f"{ref} action-taken", "ZZZ-ZZZ", "list", "show", "add x y"]) | texts)
        return {**base, "kind": "text", "text": f"/{draw(st.sampled_from(COMMANDS))} {args}"}
    if kind == "text":
        return {**base, "kind": "text", "text": draw(texts), "edited": draw(st.booleans())}
    if kind == "choice":
        suffix = draw(st.sampled_from(["", ref, "0", "1", "witness", "harassment", "none", "en", "report", "7"]))
        key = f"{draw(st.sampled_from(KEY_PREFIXES))}:{suffix}".rstrip(":")
        return {**base, "kind": "choice", "key": key, "question": draw(st.none() | st.integers(-1, 40))}
    if kind == "location":
        return {
            **base,
            "kind": "location",
            "latitude": draw(st.floats(-90, 90)),
            "longitude": draw(st.floats(-180, 180)),
        }
    if kind == "attachment":
        return {**base, "kind": "attachment", "ref": draw(st.text(min_size=1, max_size=20)), "caption": draw(texts)}
    if kind == "reaction":
        return {**base, "kind": "reaction", "message": draw(st.sampled_from(["1", "2", "nope"])), "emoji": "✅"}
    return {**base, "kind": kind}


async def scenario(events: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with memory_haven(Path(folder), demo_space()) as h:
            ref = await guided_report(h)
            for event in events:
                await h.transport.receive(
                    {k: (v.replace("REF", ref) if isinstance(v, str) else v) for k, v in event.items()}
                )
            await h.settle()
            assert h.haven.inbox.failed == 0, "an update made the service fail"
            for who in ("mallory", "walt"):
                for text in h.received(who):
                    assert SECRET not in text and ref not in text, (who, text)
            for text in [*h.room_texts(), *h.card_texts()]:
                assert SECRET not in text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(payloads("REF"), min_size=1, max_size=12))
def test_random_updates_never_crash_and_never_leak(events: list[dict[str, Any]]) -> None:
    asyncio.run(scenario(events))


def test_a_card_button_without_a_reference_is_refused_not_a_crash() -> None:
    """Found by the fuzzer: button data "ack" with no case reference."""
    asyncio.run(
        scenario(
            [
                {
                    "chat": "memory:ana",
                    "sender": "memory:ana",
                    "private": True,
                    "lang": "en",
                    "kind": "choice",
                    "key": "ack",
                    "question": None,
                }
            ]
        )
    )
