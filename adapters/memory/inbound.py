"""Inbound mapping for the memory transport: recorded JSON payloads to facts (pure)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from bot.domain.ids import CaseRef, ChatAddress, Identity
from bot.domain.model import Attachment, Lane
from bot.messages import (
    AttachmentReceived,
    ButtonRejected,
    ChoicePicked,
    CommandReceived,
    DeliveryFailed,
    Fact,
    FileFetched,
    LocationShared,
    Origin,
    ReactionAdded,
    TextReceived,
    Undecryptable,
    Unsupported,
)


def origin(payload: Mapping[str, Any]) -> Origin:
    return Origin(
        chat=ChatAddress(payload["chat"]),
        sender=Identity(payload["sender"]),
        private=bool(payload.get("private", True)),
        thread=payload.get("thread"),
        reply_to=payload.get("reply_to"),
        language_hint=payload.get("lang"),
        sender_name=payload.get("sender_name", ""),
    )


def to_facts(payload: Mapping[str, Any]) -> list[Fact]:
    kind = payload.get("kind")
    where = origin(payload)
    if kind == "text":
        text = str(payload.get("text", ""))
        if text.startswith("/") and len(text) > 1 and not payload.get("edited"):
            name, _, args = text[1:].partition(" ")
            return [CommandReceived(where, name.split("@", 1)[0].lower(), args.strip())]
        return [TextReceived(where, text, edited=bool(payload.get("edited")))]
    if kind == "choice":
        return [ChoicePicked(where, str(payload["key"]), payload.get("question"), payload.get("message"))]
    if kind == "forged":
        return [ButtonRejected(where, str(payload.get("reason", "forged")))]
    if kind == "location":
        return [LocationShared(where, float(payload["latitude"]), float(payload["longitude"]))]
    if kind == "attachment":
        attachment = Attachment(
            str(payload.get("attachment_kind", "photo")),
            str(payload["ref"]),
            str(payload.get("name", "")),
            int(payload.get("size", 0)),
            str(payload.get("mime", "")),
        )
        return [AttachmentReceived(where, attachment, str(payload.get("caption", "")))]
    if kind == "reaction":
        return [ReactionAdded(where, str(payload["message"]), str(payload["emoji"]))]
    if kind == "undecryptable":
        return [Undecryptable(where)]
    return [Unsupported(where, str(kind))]


def internal_facts(payload: Mapping[str, Any]) -> list[Fact]:
    """Facts the process records for itself (a delivery that failed for good, a downloaded file)."""
    if payload.get("kind") == "file-fetched":
        return [
            FileFetched(
                ChatAddress(payload["chat"]),
                str(payload["purpose"]),
                {str(k): str(v) for k, v in dict(payload.get("context", {})).items()},
                base64.b64decode(payload.get("data", "")),
            )
        ]
    if payload.get("kind") == "delivery-failed":
        return [
            DeliveryFailed(
                to=ChatAddress(payload["to"]),
                reason=str(payload["reason"]),
                case=CaseRef(payload["case"]) if payload.get("case") else None,
                person=Identity(payload["person"]) if payload.get("person") else None,
                lane=Lane(int(payload.get("lane", Lane.PAGE))),
            )
        ]
    return []
