"""The guided report, end to end in Swedish, Kyrgyz and Arabic, through the memory transport."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.model import Category, Contact, Role
from bot.i18n import FSI, PDI, Catalogs
from flows import texts
from tests.conftest import demo_space
from tests.harness import memory_haven, reference_in

pytestmark = pytest.mark.asyncio
CATALOGS = Catalogs()


@pytest.mark.parametrize("language", ["sv", "ky", "ar"])
async def test_a_guided_report_in_the_reporters_language(tmp_path: Path, language: str) -> None:
    def say(text: object) -> str:
        return CATALOGS.render(text, language)  # type: ignore[arg-type]

    assert say(texts.Q_DANGER) != CATALOGS.render(texts.Q_DANGER, "en"), f"{language} is translated"
    async with memory_haven(tmp_path, demo_space()) as h:

        async def choose(label: object) -> None:
            await h.transport.answer("memory:rita", say(label), lang=language)
            await h.settle()

        async def write(text: str) -> None:
            await h.say("rita", text, language=language)

        await h.command("rita", "report", language=language)
        assert h.last("rita") == say(texts.Q_DANGER)
        await choose(texts.NO)
        assert h.last("rita") == say(texts.Q_ROLE)
        await choose(texts.ROLE[Role.AFFECTED])
        await choose(texts.CATEGORY[Category.HARASSMENT])
        await write("12:00")
        await choose(texts.SKIP)
        await write("...")
        await choose(texts.DONE)
        await choose(texts.WHOM_ANYONE)
        await choose(texts.CONTACT[Contact.ANONYMOUS])
        assert say(texts.Q_CONFIRM) in h.last("rita")
        await choose(texts.SEND)
        receipt = h.last("rita")
        ref = reference_in(receipt)
        expected = say(texts.receipt_first_line())
        assert expected in receipt
        if language == "ar":
            assert f"{FSI}{ref}{PDI}" in receipt, "the reference keeps its own direction in Arabic"
        assert "Thank you. Your report is received" not in receipt
        assert "Harassment or unwanted contact" in h.card_texts()[0], "the card is in the team's language"
