"""The log redactor: identities and secrets never reach a log line."""

from __future__ import annotations

from bot.logs import redact


def test_matrix_identities_of_every_shape_are_masked() -> None:
    line = redact(
        "from matrix:@rita:example.org in !abc:example.org and !SO9v2d1qTkBSLR4rNcRnJc1GVO9P-9Th1lvrm_wKpWQ, "
        "user @ana-12:localhost:8448"
    )
    for secret in ("rita", "abc:example", "SO9v2d1q", "ana-12"):
        assert secret not in line, line


def test_short_exclamations_are_left_alone() -> None:
    assert redact("done! really!") == "done! really!"
