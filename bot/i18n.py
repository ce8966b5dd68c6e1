"""Translation: lazy texts that travel with a conversation's language.

Flows are pure and do not know the reader's language, so they return :class:`Text` values (a source
string and named parameters). The service renders them with :class:`Catalogs` in the language of the
conversation. Source strings are English; a missing translation falls back to English, never to a key.

Mark strings with ``t("...")``, ``tn("one", "many", count)`` and ``tp("context", "...")`` so that
``pybabel extract -k t -k tn:1,2 -k tp:1c,2 -k N_`` finds them (see ``make i18n``).
"""

from __future__ import annotations

import gettext
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from string import Formatter

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(os.environ.get("HAVEN_LOCALES", Path(__file__).resolve().parent.parent / "locales"))
DOMAIN = "haven"
SOURCE_LANGUAGE = "en"

Param = "str | int | float | Text | Lines"

#: Unicode first-strong isolate and pop-directional isolate: keep a reference or a name in its own
#: direction inside right-to-left text.
FSI, PDI = "\u2068", "\u2069"


@dataclass(frozen=True, slots=True)
class Text:
    """A translatable message: the English source and named parameters."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    count: int | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Lines:
    """Several texts shown together, one per line (or joined by ``sep``)."""

    parts: tuple[Text | Lines | str, ...]
    sep: str = "\n"


Renderable = Text | Lines | str


def t(msgid: str, **params: object) -> Text:
    return Text(msgid, params)


def tn(singular: str, plural: str, count: int, **params: object) -> Text:
    """A message with plural forms; ``{count}`` is available as a placeholder."""
    return Text(singular, {**params, "count": count}, plural=plural, count=count)


def tp(context: str, msgid: str, **params: object) -> Text:
    """A message whose source word is ambiguous without ``context`` (e.g. a button label)."""
    return Text(msgid, params, context=context)


def N_(msgid: str) -> str:
    """Mark a string for extraction where it is used later as a :func:`t` msgid."""
    return msgid


def lines(*parts: Text | Lines | str | None, sep: str = "\n") -> Lines:
    return Lines(tuple(p for p in parts if p is not None and p != ""), sep)


def placeholders(message: str) -> set[str]:
    """The named placeholders of a source or translated string."""
    names: set[str] = set()
    for _, name, _, _ in Formatter().parse(message):
        if name is not None:
            names.add(name)
    return names


class Catalogs:
    """The shipped gettext catalogs, compiled in memory from ``locales/<lang>/LC_MESSAGES/haven.po``."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.directory = directory
        self._cache: dict[str, gettext.NullTranslations] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language with a catalog, English first."""
        return _languages(self.directory)

    def translations(self, language: str) -> gettext.NullTranslations:
        cached = self._cache.get(language)
        if cached is not None:
            return cached
        chain: list[gettext.NullTranslations] = []
        for candidate in _fallbacks(language):
            catalog = _load(self.directory, candidate)
            if catalog is not None:
                chain.append(catalog)
        result: gettext.NullTranslations = chain[0] if chain else gettext.NullTranslations()
        for fallback in chain[1:]:
            result.add_fallback(fallback)
        self._cache[language] = result
        return result

    def render(self, text: Renderable, language: str) -> str:
        if isinstance(text, str):
            return text
        if isinstance(text, Lines):
            return text.sep.join(self.render(part, language) for part in text.parts)
        translations = self.translations(language)
        if text.plural is not None:
            count = text.count or 0
            if text.context:
                template = translations.npgettext(text.context, text.msgid, text.plural, count)
            else:
                template = translations.ngettext(text.msgid, text.plural, count)
            source = text.msgid if count == 1 else text.plural
        else:
            if text.context:
                template = translations.pgettext(text.context, text.msgid)
            else:
                template = translations.gettext(text.msgid)
            source = text.msgid
        if not text.params:
            return template
        isolate = is_rtl(language)
        values = {}
        for name, value in text.params.items():
            rendered = self.render(value, language) if isinstance(value, Text | Lines) else str(value)
            values[name] = f"{FSI}{rendered}{PDI}" if isolate and rendered else rendered
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError):
            # A broken translation must never hide the message: use the English source.
            return source.format_map(values)

    def language_name(self, language: str) -> str:
        """The language's own name for itself, e.g. "svenska", "кыргызча"."""
        return language_name(language)

    def negotiate(self, requested: str | None, default: str = SOURCE_LANGUAGE) -> str:
        return negotiate(requested, self.languages, default)


_ALIASES = {
    "pt-br": "pt_BR",
    "pt": "pt_BR",
    "zh": "zh_Hans",
    "zh-cn": "zh_Hans",
    "zh-sg": "zh_Hans",
    "zh-hans": "zh_Hans",
    "zh-tw": "zh_Hant",
    "zh-hk": "zh_Hant",
    "zh-hant": "zh_Hant",
    "nb": "no",
    "nn": "no",
}


def negotiate(requested: str | None, available: tuple[str, ...], default: str = SOURCE_LANGUAGE) -> str:
    """Map a client language code (``pt-br``, ``zh-hans``, ``en-US``) to a shipped catalog.

    Unknown or missing codes give ``default`` (the space's language), and English if that is not
    shipped either.
    """
    fallback = default if default in available else SOURCE_LANGUAGE
    if not requested:
        return fallback
    code = requested.strip().replace("_", "-").lower()
    by_lower = {lang.lower().replace("_", "-"): lang for lang in available}
    for candidate in (code, _ALIASES.get(code, "").lower().replace("_", "-")):
        if candidate and candidate in by_lower:
            return by_lower[candidate]
    base = code.split("-", 1)[0]
    alias = _ALIASES.get(base, "").lower().replace("_", "-")
    for candidate in (base, alias):
        if candidate and candidate in by_lower:
            return by_lower[candidate]
    return fallback


@cache
def is_rtl(language: str) -> bool:
    try:
        return bool(Locale.parse(language).text_direction == "rtl")
    except (ValueError, UnknownLocaleError):
        return False


@cache
def language_name(language: str) -> str:
    try:
        locale = Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return language
    name = locale.get_display_name(locale) or language
    return name[:1].upper() + name[1:]


def _fallbacks(language: str) -> list[str]:
    chain = [language]
    if "_" in language:
        chain.append(language.split("_", 1)[0])
    if SOURCE_LANGUAGE not in chain:
        chain.append(SOURCE_LANGUAGE)
    return chain


@cache
def _languages(directory: Path) -> tuple[str, ...]:
    found = sorted(p.parent.parent.name for p in directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    ordered = [SOURCE_LANGUAGE] if SOURCE_LANGUAGE in found else []
    return tuple(ordered + [lang for lang in found if lang != SOURCE_LANGUAGE])


def _load(directory: Path, language: str) -> gettext.GNUTranslations | None:
    po = directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return None
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
