"""Log lines: JSON in production, readable in the demo, and never an identity or report content."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import logs
from bot.logs import redact


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(fmt: str) -> str:
    stream = io.StringIO()
    logs.setup(fmt, "INFO", stream)
    log = logging.getLogger("haven.test")
    log.info("paged %s in %s", "telegram:123456789", "matrix:!room:example.org", extra={"count": 2, "lane": "page"})
    log.warning("delivery failed", extra={"text": "my neighbour hit me", "sender": "telegram:42", "platform": "x"})
    log.error("event loop stalled", extra={"seconds": 6.2, "stack": '  File "bot/x.py", line 3, in f\n    block()\n'})
    return stream.getvalue()


@pytest.mark.usefixtures("restore_root_logger")
def test_production_logs_are_json_lines_without_identities_or_content() -> None:
    out = emit("json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in entries] == [
        "paged telegram:<id> in matrix:<id>",
        "delivery failed",
        "event loop stalled",
    ]
    assert entries[0]["count"] == 2 and entries[0]["lane"] == "page" and entries[0]["level"] == "info"
    assert entries[1]["text"] == "<redacted>" and entries[1]["sender"] == "<redacted>"
    assert "block()" in entries[2]["stack"]
    for secret in ("123456789", "!room", "neighbour", "telegram:42"):
        assert secret not in out


@pytest.mark.usefixtures("restore_root_logger")
def test_demo_logs_are_readable_lines_with_their_fields_and_stack() -> None:
    out = emit("text")
    lines = out.splitlines()
    assert lines[0].endswith("INFO    haven.test: paged telegram:<id> in matrix:<id> count=2 lane=page")
    assert "delivery failed text=<redacted> sender=<redacted> platform=x" in lines[1]
    assert lines[2].endswith("event loop stalled seconds=6.2") and lines[4] == "    block()"
    assert "neighbour" not in out and "123456789" not in out


def emit_one(message: str, *args: object, **extra: object) -> str:
    stream = io.StringIO()
    logs.setup("json", "DEBUG", stream)
    logging.getLogger("haven.test").info(message, *args, extra=extra)
    return stream.getvalue()


@pytest.mark.usefixtures("restore_root_logger")
def test_identities_and_tokens_are_masked() -> None:
    line = emit_one(
        "sent to %s and %s via https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage",
        "telegram:4242",
        "matrix:@alice:example.org",
        room="!abcdef:example.org",
    )
    for secret in ("4242", "@alice:example.org", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "!abcdef:example.org"):
        assert secret not in line
    assert json.loads(line)["event"].startswith("sent to telegram:<id>")


@pytest.mark.usefixtures("restore_root_logger")
def test_fields_that_could_hold_content_are_dropped() -> None:
    line = emit_one("case filed", text="canary report text", involved="canary name", count=3)
    entry = json.loads(line)
    assert entry["text"] == "<redacted>" and entry["involved"] == "<redacted>" and entry["count"] == 3


@pytest.mark.usefixtures("restore_root_logger")
def test_exceptions_are_redacted_too() -> None:
    stream = io.StringIO()
    logs.setup("text", "INFO", stream)
    try:
        raise ValueError("could not reach telegram:555 with password=hunter2")
    except ValueError:
        logging.getLogger("haven.test").exception("failed")
    output = stream.getvalue()
    assert "555" not in output and "hunter2" not in output and "ValueError" in output


def test_matrix_identities_of_every_shape_are_masked() -> None:
    line = redact(
        "from matrix:@rita:example.org in !abc:example.org and !SO9v2d1qTkBSLR4rNcRnJc1GVO9P-9Th1lvrm_wKpWQ, "
        "user @ana-12:localhost:8448"
    )
    for secret in ("rita", "abc:example", "SO9v2d1q", "ana-12"):
        assert secret not in line, line


def test_short_exclamations_are_left_alone() -> None:
    assert redact("done! really!") == "done! really!"
