"""The CI gates on translations (see bot/i18n_check.py and docs/translating.md)."""

from __future__ import annotations

from bot import i18n_check


def test_the_template_catalogs_and_placeholders_pass_the_gates() -> None:
    assert i18n_check.check() == []


def test_reporter_facing_strings_are_told_apart_by_their_source_file() -> None:
    template = i18n_check._read(i18n_check.TEMPLATE)
    reporter = {m.id for m in template if m.id and i18n_check.is_reporter_facing(m)}
    assert "Is anyone in danger right now?" in reporter
    assert "This command is for the response team." not in reporter
