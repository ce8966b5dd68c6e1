"""Typed identifiers for everything that crosses a boundary.

Identities and chat addresses are strings of the form ``<platform>:<native id>``:
``telegram:222`` (a user, which on Telegram is also their private chat), ``telegram:-1001234``
(a group), ``matrix:@ana:example.org`` (a user) and ``matrix:!room:example.org`` (a room; since room
version 12 a room id has no server part: ``matrix:!Aq3…``).
"""

from __future__ import annotations

import re
from typing import NewType

SpaceId = NewType("SpaceId", str)
CaseId = NewType("CaseId", int)
CaseRef = NewType("CaseRef", str)
Identity = NewType("Identity", str)
ChatAddress = NewType("ChatAddress", str)
Pseudonym = NewType("Pseudonym", str)
Platform = NewType("Platform", str)

PLATFORMS = ("telegram", "matrix", "memory")
SPACE_ID = re.compile(r"^[a-z0-9-]{1,32}$")
_IDENTITY = {
    "telegram": re.compile(r"^-?\d{1,20}$"),
    # Room ids of room version 12 and later have no server part ("!<hash>").
    "matrix": re.compile(r"^(@[^:\s]+:[A-Za-z0-9.\-\[\]:]+|![^:\s]+(:[A-Za-z0-9.\-\[\]:]+)?)$"),
    "memory": re.compile(r"^[\w.\-@!:]{1,64}$"),
}


def platform_of(address: str) -> Platform:
    """The platform prefix of an identity or chat address."""
    return Platform(address.split(":", 1)[0])


def native_id(address: str) -> str:
    """The part after the platform prefix: ``matrix:!room:server`` gives ``!room:server``."""
    return address.split(":", 1)[1]


def command_prefix(chat: str) -> str:
    """How commands start on a chat's platform: ``/`` on Telegram, ``!`` on Matrix (Element takes ``/``)."""
    return "!" if platform_of(chat) == "matrix" else "/"


def is_valid_address(address: str) -> bool:
    platform, sep, rest = address.partition(":")
    pattern = _IDENTITY.get(platform)
    return bool(sep) and pattern is not None and bool(pattern.match(rest))
