"""Every message renders in every shipped language: placeholders filled, no crash, and no English
left in the catalogs that must be complete (issue 7)."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from bot import i18n_check
from bot.i18n import FSI, PDI, Catalogs, Text, placeholders

CATALOGS = Catalogs()
TEMPLATE = i18n_check._read(i18n_check.TEMPLATE)
SAMPLES = {"ref": "K7F-3QX", "count": 3, "name": "Ana", "space": "Demo Camp", "command": "/report"}
LEFTOVER = re.compile(r"\{[a-z_]+\}")


def sample(name: str) -> object:
    return SAMPLES.get(name, f"<{name}>")


def texts_of(message: object) -> list[Text]:
    ident = message.id  # type: ignore[attr-defined]
    context = message.context  # type: ignore[attr-defined]
    if isinstance(ident, str):
        params = {n: sample(n) for n in placeholders(ident)}
        return [Text(ident, params, context=context)]
    singular, plural = ident
    names = placeholders(singular) | placeholders(plural)
    return [
        Text(singular, {**{n: sample(n) for n in names}, "count": count}, plural=plural, count=count, context=context)
        for count in (1, 2, 5, 21)
    ]


@pytest.mark.parametrize("language", CATALOGS.languages)
def test_every_message_renders_with_its_placeholders_filled(language: str) -> None:
    for message in TEMPLATE:
        if not message.id:
            continue
        for text in texts_of(message):
            rendered = CATALOGS.render(text, language).replace(FSI, "").replace(PDI, "")
            assert rendered.strip(), (language, text.msgid)
            assert not LEFTOVER.search(rendered), (language, text.msgid, rendered)


@pytest.mark.parametrize("language", i18n_check.REQUIRED_REPORTER)
def test_required_catalogs_translate_every_reporter_facing_string(language: str) -> None:
    if language == "en":
        return
    path = i18n_check.catalogs()[language]
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    missing = [
        m.id
        for m in TEMPLATE
        if m.id and i18n_check.is_reporter_facing(m) and not i18n_check._translated(catalog.get(m.id, m.context) or m)
    ]
    assert missing == []
