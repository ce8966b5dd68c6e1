"""The logging redactor: identities, tokens and content fields never reach a log line."""

from __future__ import annotations

import io
import json
import logging

from bot import logs


def emit(message: str, *args: object, **extra: object) -> str:
    stream = io.StringIO()
    logs.setup("json", "DEBUG", stream)
    logging.getLogger("haven.test").info(message, *args, extra=extra)
    return stream.getvalue()


def test_identities_and_tokens_are_masked() -> None:
    line = emit(
        "sent to %s and %s via https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
        "telegram:4242",
        "matrix:@alice:example.org",
        room="!abcdef:example.org",
    )
    for secret in ("4242", "@alice:example.org", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "!abcdef:example.org"):
        assert secret not in line
    assert json.loads(line)["event"].startswith("sent to telegram:<id>")


def test_fields_that_could_hold_content_are_dropped() -> None:
    line = emit("case filed", text="canary report text", involved="canary name", count=3)
    entry = json.loads(line)
    assert entry["text"] == "<redacted>" and entry["involved"] == "<redacted>" and entry["count"] == 3


def test_exceptions_are_redacted_too() -> None:
    stream = io.StringIO()
    logs.setup("text", "INFO", stream)
    try:
        raise ValueError("could not reach telegram:555 with password=hunter2")
    except ValueError:
        logging.getLogger("haven.test").exception("failed")
    output = stream.getvalue()
    assert "555" not in output and "hunter2" not in output and "ValueError" in output
