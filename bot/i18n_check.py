"""Translation gates for CI, and the completeness report (``make i18n-check``, ``make i18n-report``).

Gates: the template matches a fresh extract of the code; every catalog compiles; every translation
uses exactly the placeholders of its source; every required catalog translates every reporter-facing
string (and the responder-facing ones where required).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, language_name, placeholders

ROOT = LOCALES_DIR.parent
TEMPLATE = LOCALES_DIR / "haven.pot"
SOURCES = ("bot", "flows", "adapters")
KEYWORDS = ("-k", "t", "-k", "tn:1,2", "-k", "tp:1c,2", "-k", "N_")
#: Source files whose strings a reporter can see.
REPORTER_FILES = frozenset({"flows/texts.py", "flows/report.py", "flows/reporter.py", "flows/common.py"})
#: Catalogs that must translate every reporter-facing string.
REQUIRED_REPORTER: tuple[str, ...] = (
    "en",
    "sv",
    "ky",
    "ar",
    "fa",
    "es",
    "fr",
    "de",
    "pt_BR",
    "ru",
    "uk",
    "zh_Hans",
    "ja",
    "hi",
    "bn",
    "id",
    "tr",
    "sw",
    "it",
    "pl",
)
#: Catalogs that must also translate every responder- and coordinator-facing string.
REQUIRED_TEAM: tuple[str, ...] = ("en", "es", "fr", "de", "ru", "ar")


@dataclass(frozen=True, slots=True)
class Completeness:
    language: str
    reporter_done: int
    reporter_total: int
    team_done: int
    team_total: int


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _key(message: Message) -> tuple[str | None, str]:
    ident = message.id if isinstance(message.id, str) else message.id[0]
    return message.context, ident


def fresh_template() -> Catalog:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "fresh.pot"
        CommandLineInterface().run(  # type: ignore[no-untyped-call]
            [
                "pybabel",
                "-q",
                "extract",
                "--add-location=file",
                "--sort-output",
                "-c",
                "TRANSLATORS:",
                *KEYWORDS,
                "-o",
                str(out),
                *(str(ROOT / s) for s in SOURCES),
            ]
        )
        return _read(out)


def is_reporter_facing(message: Message) -> bool:
    return any(_relative(path) in REPORTER_FILES for path, _ in message.locations)


def _relative(path: str) -> str:
    marker = next((s for s in SOURCES if f"{s}/" in path), None)
    return path[path.index(f"{marker}/") :] if marker else path


def catalogs() -> dict[str, Path]:
    return {p.parent.parent.name: p for p in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/haven.po"))}


def _translated(message: Message) -> bool:
    if message.fuzzy:
        return False
    if isinstance(message.string, list | tuple):
        return all(message.string)
    return bool(message.string)


def completeness(language: str, path: Path, template: Catalog) -> Completeness:
    catalog = _read(path, language)
    counts = {True: [0, 0], False: [0, 0]}
    for message in template:
        if not message.id:
            continue
        reporter = is_reporter_facing(message)
        counts[reporter][1] += 1
        found = catalog.get(message.id, message.context)
        if language == "en" or (found is not None and _translated(found)):
            counts[reporter][0] += 1
    return Completeness(language, counts[True][0], counts[True][1], counts[False][0], counts[False][1])


def check() -> list[str]:
    problems: list[str] = []
    template = _read(TEMPLATE)
    fresh = fresh_template()
    current = {_key(m) for m in template if m.id}
    expected = {_key(m) for m in fresh if m.id}
    for context, ident in sorted(expected - current, key=str):
        problems.append(f"locales/haven.pot is stale: missing {ident!r} (context {context!r}); run make i18n")
    for context, ident in sorted(current - expected, key=str):
        problems.append(f"locales/haven.pot is stale: {ident!r} (context {context!r}) is no longer used; run make i18n")
    for language, path in catalogs().items():
        catalog = _read(path, language)
        try:
            write_mo(io.BytesIO(), catalog)
        except Exception as error:  # a catalog that does not compile
            problems.append(f"{path}: does not compile: {error}")
            continue
        for message in catalog:
            if not message.id or not _translated(message):
                continue
            problems.extend(_placeholder_problems(path, message))
        for message in template:
            if message.id and catalog.get(message.id, message.context) is None:
                problems.append(f"{path}: missing entry {_key(message)[1]!r}; run make i18n")
        done = completeness(language, path, template)
        if language in REQUIRED_REPORTER and done.reporter_done < done.reporter_total:
            problems.append(
                f"{path}: {done.reporter_total - done.reporter_done} reporter-facing strings are not translated"
            )
        if language in REQUIRED_TEAM and done.team_done < done.team_total:
            problems.append(f"{path}: {done.team_total - done.team_done} team-facing strings are not translated")
    for language in (*REQUIRED_REPORTER, *REQUIRED_TEAM):
        if language not in catalogs():
            problems.append(f"locales/{language}: a required catalog is missing")
    return problems


def _placeholder_problems(path: Path, message: Message) -> list[str]:
    sources = [message.id] if isinstance(message.id, str) else [str(i) for i in message.id]
    raw = message.string
    strings = [raw] if isinstance(raw, str) else [str(s) for s in (raw or ())]
    allowed = set().union(*(placeholders(s) for s in sources))
    found: list[str] = []
    for index, translated in enumerate(strings):
        if not translated:
            continue
        try:
            names = placeholders(translated)
        except ValueError as error:
            found.append(f"{path}: {sources[0]!r}: broken braces in the translation ({error})")
            continue
        if isinstance(message.id, str) and names != allowed:
            found.append(
                f"{path}: {sources[0]!r}: placeholders {sorted(names)} differ from the source {sorted(allowed)}"
            )
        elif not isinstance(message.id, str) and not names <= allowed:
            found.append(f"{path}: {sources[0]!r} form {index}: unknown placeholders {sorted(names - allowed)}")
        elif not isinstance(message.id, str) and names != allowed and names | {"count"} != allowed:
            found.append(
                f"{path}: {sources[0]!r} form {index}: placeholders {sorted(names)} miss {sorted(allowed - names)}"
            )
    return found


def report() -> str:
    template = _read(TEMPLATE)
    rows = [
        "| language | code | reporter-facing | team-facing |",
        "|---|---|---|---|",
    ]
    for language, path in catalogs().items():
        done = completeness(language, path, template)
        reporter = 100 * done.reporter_done // max(1, done.reporter_total)
        team = 100 * done.team_done // max(1, done.team_total)
        rows.append(
            f"| {language_name(language)} | `{language}` | {reporter}% ({done.reporter_done}/{done.reporter_total}) "
            f"| {team}% ({done.team_done}/{done.team_total}) |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", action="store_true", help="print the completeness table (Markdown)")
    args = parser.parse_args(argv)
    if args.report:
        print(report())
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"translations OK: {len(catalogs())} catalogs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
