"""Builds the Telegram transport and its inbound mapper (called by :func:`bot.bootstrap.build`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.telegram.inbound import to_facts
from adapters.telegram.render import Menu, chat_id
from adapters.telegram.transport import TelegramTransport
from bot.config import TelegramSettings
from bot.delivery.inbox import Mapper
from bot.i18n import Catalogs
from bot.messages import Fact
from bot.ports import Translator
from flows import menus

SECRET = "buttons"


def create(settings: TelegramSettings, secret: Callable[[str], bytes]) -> tuple[TelegramTransport, Mapper]:
    """``secret(name)`` works once the store is open, so it is asked for lazily."""
    transport = TelegramTransport(settings, lambda: secret(SECRET), command_menus(Catalogs(), settings.team_rooms))

    def mapper(update: Mapping[str, Any]) -> Sequence[Fact]:
        return to_facts(update, secret(SECRET), transport.username)

    return transport, mapper


def command_menus(translator: Translator, team_rooms: Sequence[str] = ()) -> list[Menu]:
    """Reporter commands for every chat and for private chats, team commands for the team rooms: in
    English for everyone, and in each shipped language that translates them (Telegram wants
    two-letter codes; a language whose menu would be the English one needs no menu of its own)."""
    codes: dict[str, str] = {"": "en"}
    for language in translator.languages:
        code = language.split("_", 1)[0].lower()
        if re.fullmatch(r"[a-z]{2}", code) and code != "en":
            codes.setdefault(code, language)
    found: list[Menu] = []
    english: tuple[Any, ...] = ()
    for code, language in codes.items():
        reporter = tuple((name, translator.render(text, language)) for name, text in menus.REPORTER)
        team = tuple((name, translator.render(text, language)) for name, text in menus.TEAM)
        if code and (reporter, team) == english:
            continue
        english = english or (reporter, team)
        found += [Menu("default", code, reporter), Menu("all_private_chats", code, reporter)]
        found += [Menu(chat_id(room), code, team) for room in team_rooms]
    return found
