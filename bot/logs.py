"""Logging: JSON lines in production, readable lines in the demo.

Log records carry event names and counts, never report content, names or platform identities. The
:class:`Redactor` filter is the last line of defence: it masks anything in a record that looks like a
platform identity, a token or a case's free text field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}
#: Values that must never reach a log: platform identities, bot tokens, access tokens.
_SECRETS = [
    (re.compile(r"(/bot)\d+:[^/\s]+"), r"\1<token>"),  # Bot API URLs: https://api.telegram.org/bot<token>/…
    (re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{20,}"), "<token>"),
    (re.compile(r"(telegram|memory):-?[\w.]+"), r"\1:<id>"),
    (re.compile(r"matrix:[@!][^\s,;]+"), "matrix:<id>"),
    (re.compile(r"@[A-Za-z0-9._=\-/]+:[A-Za-z0-9.\-]+(:\d+)?"), "<matrix-user>"),
    (re.compile(r"!\w+:[A-Za-z0-9.\-]+(:\d+)?"), "<matrix-room>"),
    (re.compile(r"(?<![\w!])![A-Za-z0-9_\-]{20,}"), "<matrix-room>"),  # room version 12: no server part
    (re.compile(r"syt_[A-Za-z0-9_]+"), "<token>"),
    (re.compile(r"(?i)(access_token|password|token)=[^&\s]+"), r"\1=<secret>"),
]
#: Extra fields that may carry user content and are dropped whatever their value.
_FORBIDDEN_FIELDS = {
    "text",
    "body",
    "content",
    "details",
    "involved",
    "when_where",
    "name",
    "identity",
    "chat",
    "sender",
}


def redact(value: str) -> str:
    for pattern, replacement in _SECRETS:
        value = pattern.sub(replacement, value)
    return value


class Redactor(logging.Filter):
    """Masks identities and secrets in every record, and drops fields that could hold content."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        record.msg = redact(str(record.msg))
        for key in list(vars(record)):
            if key in _STANDARD:
                continue
            if key in _FORBIDDEN_FIELDS:
                setattr(record, key, "<redacted>")
            elif isinstance(getattr(record, key), str):
                setattr(record, key, redact(getattr(record, key)))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | list | dict) else str(value)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines (the demo): the event, then its fields as ``key=value``; a stack on the lines below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        stack = fields.pop("stack", None)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        if stack:
            line += "\n" + str(stack).rstrip()
        return line


def setup(fmt: str = "json", level: str = "INFO", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "nio", "aiosqlite", "telegram", "peewee", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
