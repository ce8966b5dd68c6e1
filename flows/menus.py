"""The command menus that platforms show (Telegram's "/" menu): command names and what they do.

Pure: the descriptions are translatable texts; an adapter renders them in each shipped language.
Only commands the core answers are listed.
"""

from __future__ import annotations

from bot.i18n import Text, tp
from flows import texts

Menu = tuple[tuple[str, Text], ...]

#: What anyone can do in a private chat with the bot (reporter-facing: the texts live with the others).
REPORTER: Menu = texts.COMMAND_MENU

#: What responders do in the team room.
TEAM: Menu = (
    ("ack", tp("command menu", "Acknowledge a case: stops its escalation")),
    ("claim", tp("command menu", "Take a case")),
    ("join", tp("command menu", "Join a case as the second responder")),
    ("leave", tp("command menu", "Step back from a case")),
    ("reply", tp("command menu", "Write to the reporter of a case")),
    ("note", tp("command menu", "Add an internal note to a case")),
    ("resolve", tp("command menu", "Close a case with an outcome")),
    ("reopen", tp("command menu", "Reopen a closed case")),
    ("cases", tp("command menu", "Open cases, oldest first")),
    ("oncall", tp("command menu", "Who is on call now and next")),
)
