"""What every flow shares: prompts with choices, reading an answer, the environment, the actions.

Flows are pure: ``step(state, fact, env) -> (state, actions)``. ``env`` carries everything they may
read (the time, the space, the reporter's cases, a renderer for matching typed answers); actions
say what the service must do with storage and the outside world.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.ids import CaseRef
from bot.domain.model import Attachment, Case, Person, Source, Urgency
from bot.domain.space import Space
from bot.i18n import Renderable

# --- prompts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    label: Renderable
    key: str
    emergency: bool = False


Rows = tuple[tuple[Choice, ...], ...]


@dataclass(frozen=True, slots=True)
class Prompt:
    text: Renderable
    rows: Rows = ()

    def choices(self) -> list[Choice]:
        return [choice for row in self.rows for choice in row]


# --- environment -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Env:
    now: datetime
    render: Callable[[Renderable], str]
    spaces: tuple[Space, ...] = ()
    space: Space | None = None
    on_call: tuple[Person, ...] = ()
    cases: tuple[Case, ...] = ()
    languages: tuple[str, ...] = ("en",)
    language_name: Callable[[str], str] = str
    max_text: int = 4000
    draft_ttl: timedelta = timedelta(hours=24)
    prefix: str = "/"
    paused: str | None = None

    @property
    def open_cases(self) -> tuple[Case, ...]:
        return tuple(case for case in self.cases if case.is_open)


# --- actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """Say something to the person in this chat; ``rows`` make it a question."""

    text: Renderable
    rows: Rows = ()


@dataclass(frozen=True, slots=True)
class FileCase:
    """Store a new case from ``draft`` (a :class:`flows.report.Draft` as JSON), then route and page it."""

    draft: dict[str, Any]
    urgency: Urgency
    source: Source


@dataclass(frozen=True, slots=True)
class AddToCase:
    ref: CaseRef
    kind: str  # "reporter" | "location" | "attachment"
    body: str
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class UpdateCase:
    """Answers given after a quick report: ``changes`` names case fields and their new values."""

    ref: CaseRef
    changes: dict[str, str]


@dataclass(frozen=True, slots=True)
class WithdrawCase:
    ref: CaseRef


@dataclass(frozen=True, slots=True)
class Forget:
    """Erase the reporter's drafts and their link to their cases."""


@dataclass(frozen=True, slots=True)
class SetLanguage:
    """Write to this person in ``language`` from now on."""

    language: str


@dataclass(frozen=True, slots=True)
class SignOff:
    """The reporter confirmed (or asked to correct) the written record of a verbal report."""

    ref: CaseRef
    confirmed: bool


Action = Reply | FileCase | AddToCase | UpdateCase | WithdrawCase | Forget | SetLanguage | SignOff


@dataclass(frozen=True, slots=True)
class Outcome:
    state: dict[str, Any]
    actions: tuple[Action, ...] = field(default=())


# --- reading answers -------------------------------------------------------------------------------

NAVIGATION_WORDS = {
    "back": "back",
    "skip": "skip",
    "cancel": "cancel",
    "stop": "cancel",
    "done": "done",
    "sos": "sos",
    "emergency": "sos",
    "yes": "yes",
    "no": "no",
}

_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Casefolded words without emoji or punctuation, for comparing typed answers with labels."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", folded).strip()


def match_choice(text: str, choices: Sequence[Choice], render: Callable[[Renderable], str]) -> Choice | None:
    """The choice a typed answer means: its number, its label (in the reader's language) or a
    navigation word in English."""
    answer = normalise(text)
    if not answer:
        return None
    if answer.isdigit():
        index = int(answer) - 1
        return choices[index] if 0 <= index < len(choices) else None
    for choice in choices:
        if normalise(render(choice.label)) == answer:
            return choice
    word = NAVIGATION_WORDS.get(answer)
    if word is not None:
        for choice in choices:
            if choice.key == word:
                return choice
    return None
