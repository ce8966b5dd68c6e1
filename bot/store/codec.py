"""JSON codecs for values stored as sealed blobs: outbound effects, case content."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from bot.domain.ids import CaseRef, ChatAddress, Identity
from bot.messages import Button, EditCard, Effect, FetchFile, PostCard, Send, SendFile


def to_ts(value: datetime | None) -> float | None:
    """A moment as stored: seconds since the epoch (None stays None)."""
    return value.timestamp() if value is not None else None


def from_ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def from_ts_required(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _buttons(rows: tuple[tuple[Button, ...], ...]) -> list[list[list[Any]]]:
    return [[[b.label, b.key, b.emergency] for b in row] for row in rows]


def _unbuttons(rows: list[list[list[Any]]]) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(Button(label, key, bool(emergency)) for label, key, emergency in row) for row in rows)


def encode_effect(effect: Effect) -> dict[str, Any]:
    match effect:
        case Send():
            return {
                "kind": "send",
                "to": effect.to,
                "text": effect.text,
                "buttons": _buttons(effect.buttons),
                "question": effect.question,
                "case": effect.case,
                "in_thread": effect.in_thread,
                "mentions": list(effect.mentions),
                "person": effect.person,
            }
        case PostCard():
            return {
                "kind": "card",
                "to": effect.to,
                "case": effect.case,
                "text": effect.text,
                "buttons": _buttons(effect.buttons),
                "title": effect.title,
            }
        case EditCard():
            return {
                "kind": "edit",
                "to": effect.to,
                "case": effect.case,
                "text": effect.text,
                "buttons": _buttons(effect.buttons),
            }
        case SendFile():
            return {
                "kind": "file",
                "to": effect.to,
                "name": effect.name,
                "mime": effect.mime,
                "data": base64.b64encode(effect.data).decode("ascii"),
                "caption": effect.caption,
            }
        case FetchFile():
            return {
                "kind": "fetch",
                "to": effect.to,
                "ref": effect.ref,
                "purpose": effect.purpose,
                "context": effect.context,
            }
    raise TypeError(f"not an effect: {effect!r}")


def decode_effect(data: dict[str, Any]) -> Effect:
    to = ChatAddress(data["to"])
    kind = data["kind"]
    if kind == "send":
        return Send(
            to=to,
            text=data["text"],
            buttons=_unbuttons(data["buttons"]),
            question=data["question"],
            case=CaseRef(data["case"]) if data["case"] else None,
            in_thread=data["in_thread"],
            mentions=tuple(Identity(m) for m in data["mentions"]),
            person=Identity(data["person"]) if data.get("person") else None,
        )
    if kind == "card":
        return PostCard(to, CaseRef(data["case"]), data["text"], _unbuttons(data["buttons"]), data["title"])
    if kind == "edit":
        return EditCard(to, CaseRef(data["case"]), data["text"], _unbuttons(data["buttons"]))
    if kind == "file":
        return SendFile(to, data["name"], data["mime"], base64.b64decode(data["data"]), data["caption"])
    if kind == "fetch":
        return FetchFile(to, data["ref"], data["purpose"], dict(data.get("context", {})))
    raise ValueError(f"unknown effect kind {kind!r}")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def loads(raw: bytes | str) -> Any:
    return json.loads(raw)
