"""Translation mechanics: negotiation, fallback, plurals, right-to-left isolation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n import FSI, PDI, Catalogs, lines, negotiate, placeholders, t, tn, tp

SHIPPED = ("en", "sv", "ky", "ar", "pt_BR", "zh_Hans")


def test_client_language_codes_map_to_catalogs() -> None:
    assert negotiate("pt-br", SHIPPED) == "pt_BR"
    assert negotiate("pt", SHIPPED) == "pt_BR"
    assert negotiate("zh-hans", SHIPPED) == "zh_Hans"
    assert negotiate("zh-CN", SHIPPED) == "zh_Hans"
    assert negotiate("en-US", SHIPPED) == "en"
    assert negotiate("SV", SHIPPED) == "sv"
    assert negotiate("xx", SHIPPED, "sv") == "sv", "unknown → the space's default"
    assert negotiate("xx", SHIPPED, "fr") == "en", "... and English when that is not shipped"
    assert negotiate(None, SHIPPED, "ky") == "ky"


def partial_catalog(tmp_path: Path) -> Catalogs:
    catalog = Catalog(locale="de")
    catalog.add("Hello {name}", "Hallo {name}")
    catalog.add(("{count} case", "{count} cases"), ("{count} Fall", "{count} Fälle"))
    catalog.add("Broken {name}", "Kaputt {nmae}")
    catalog.add("Open", "Offen", context="button")
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "haven.po").open("wb") as handle:
        write_po(handle, catalog)
    return Catalogs(tmp_path)


def test_translations_plurals_and_contexts(tmp_path: Path) -> None:
    catalogs = partial_catalog(tmp_path)
    assert catalogs.render(t("Hello {name}", name="Ana"), "de") == "Hallo Ana"
    assert catalogs.render(tn("{count} case", "{count} cases", 1), "de") == "1 Fall"
    assert catalogs.render(tn("{count} case", "{count} cases", 3), "de") == "3 Fälle"
    assert catalogs.render(tp("button", "Open"), "de") == "Offen"
    assert catalogs.render(tp("door", "Open"), "de") == "Open"


def test_a_missing_string_falls_back_to_english_never_to_a_key(tmp_path: Path) -> None:
    catalogs = partial_catalog(tmp_path)
    assert catalogs.render(t("Not translated {x}", x=1), "de") == "Not translated 1"
    assert catalogs.render(t("Hello {name}", name="Ana"), "xx") == "Hello Ana"


def test_a_broken_translation_shows_the_english_source(tmp_path: Path) -> None:
    assert partial_catalog(tmp_path).render(t("Broken {name}", name="x"), "de") == "Broken x"


def test_right_to_left_texts_isolate_references_numbers_and_names() -> None:
    catalogs = Catalogs()
    text = catalogs.render(t("Your reference is {ref}.", ref="K7F-3QX"), "ar")
    assert f"{FSI}K7F-3QX{PDI}" in text
    assert FSI not in catalogs.render(t("Your reference is {ref}.", ref="K7F-3QX"), "en")


def test_nested_texts_are_rendered_in_the_same_language(tmp_path: Path) -> None:
    catalogs = partial_catalog(tmp_path)
    assert catalogs.render(lines(t("Hello {name}", name=tp("button", "Open")), "plain"), "de") == "Hallo Offen\nplain"


def test_placeholders_are_found() -> None:
    assert placeholders("Hello {name}, case {ref}") == {"name", "ref"}


def test_language_names_are_in_their_own_language() -> None:
    catalogs = Catalogs()
    assert catalogs.language_name("sv") == "Svenska"
    assert catalogs.language_name("ar") == "العربية"
