"""Pure domain logic: references, durations, the rota across DST, routing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.ids import CaseRef, Identity, Pseudonym, SpaceId, is_valid_address
from bot.domain.model import Case, CaseContent, CaseState, Category, Contact, Role, Source, Urgency
from bot.domain.reference import ALPHABET, REFERENCE, find_reference, new_pseudonym, new_reference, parse_reference
from bot.domain.rota import Override, Rota, Shift, WeeklyShift, parse_weekdays
from bot.domain.routing import named_in, route
from bot.domain.space import HandlingPolicy, Target
from tests.conftest import demo_space

ANA, BEN, CORA = Identity("memory:ana"), Identity("memory:ben"), Identity("memory:cora")


# --- references --------------------------------------------------------------------------------------


def test_references_have_the_spec_format() -> None:
    for _ in range(200):
        ref = new_reference()
        assert REFERENCE.match(ref)
        assert all(c in ALPHABET + "-" for c in ref)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("k7f-3qx", "K7F-3QX"), ("K7F3QX", "K7F-3QX"), ("#K7F-3QX", "K7F-3QX"), (" k7f 3qx ", "K7F-3QX")],
)
def test_references_are_read_back_leniently(typed: str, expected: str) -> None:
    assert parse_reference(typed) == expected


@pytest.mark.parametrize("typed", ["K7F-3Q", "K0F-3QX", "IOI-III", "", "hello"])
def test_things_that_are_not_references_are_refused(typed: str) -> None:
    assert parse_reference(typed) is None


def test_a_reference_is_found_inside_text() -> None:
    assert find_reference("about case k7f-3qx please") == "K7F-3QX"


def test_pseudonyms_are_neutral() -> None:
    assert new_pseudonym().startswith("R-") and len(new_pseudonym()) == 6


# --- durations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("0s", 0)]
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m5", "-5m", "5 minutes", "1.5h", "5x"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**7))
def test_durations_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def test_identities_are_validated() -> None:
    assert is_valid_address("telegram:123") and is_valid_address("telegram:-1001234")
    assert is_valid_address("matrix:@ana:example.org") and is_valid_address("matrix:!abc:example.org")
    assert is_valid_address("matrix:!SO9v2d1qTkBSLR4rNcRnJc1GVO9P-9Th1lvrm_wKpWQ"), "room version 12"
    assert not is_valid_address("matrix:@ana")
    assert not is_valid_address("telegram:abc") and not is_valid_address("matrix:ana") and not is_valid_address("irc:x")


# --- rota --------------------------------------------------------------------------------------------

STOCKHOLM = "Europe/Stockholm"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_an_empty_rota_has_nobody_on_call_and_no_next_change() -> None:
    rota = Rota(STOCKHOLM)
    assert rota.on_call(utc(2027, 8, 1, 12)) == frozenset()
    assert rota.next_change(utc(2027, 8, 1, 12)) is None


def test_explicit_shifts_are_in_local_time() -> None:
    rota = Rota(STOCKHOLM, shifts=(Shift((ANA,), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 20)),))
    assert rota.on_call(utc(2027, 8, 1, 6)) == {ANA}  # 08:00 CEST is 06:00 UTC
    assert rota.on_call(utc(2027, 8, 1, 5, 59)) == frozenset()
    assert rota.on_call(utc(2027, 8, 1, 18)) == frozenset()  # 20:00 CEST: the shift has ended


def test_overlapping_shifts_put_both_people_on_call() -> None:
    rota = Rota(
        STOCKHOLM,
        shifts=(
            Shift((ANA,), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 14)),
            Shift((BEN,), datetime(2027, 8, 1, 12), datetime(2027, 8, 1, 20)),
        ),
    )
    assert rota.on_call(utc(2027, 8, 1, 11)) == {ANA, BEN}


def test_a_night_shift_across_spring_forward_lasts_eleven_hours() -> None:
    # 2027-03-28: Stockholm jumps from 02:00 to 03:00.
    rota = Rota(STOCKHOLM, weekly=(WeeklyShift((BEN,), parse_weekdays(["sat"]), time(20), time(8)),))
    start, end = next(iter(rota.windows(utc(2027, 3, 27, 12), utc(2027, 3, 27, 23)))).start, None
    window = next(w for w in rota.windows(utc(2027, 3, 27, 12), utc(2027, 3, 28, 12)) if w.start == start)
    end = window.end
    assert end - start == timedelta(hours=11)
    assert rota.on_call(utc(2027, 3, 28, 5, 30)) == {BEN}  # 07:30 CEST
    assert rota.on_call(utc(2027, 3, 28, 6, 0)) == frozenset()  # 08:00 CEST


def test_a_night_shift_across_fall_back_lasts_thirteen_hours() -> None:
    # 2027-10-31: Stockholm goes back from 03:00 to 02:00.
    rota = Rota(STOCKHOLM, weekly=(WeeklyShift((BEN,), parse_weekdays(["sat"]), time(20), time(8)),))
    window = next(iter(rota.windows(utc(2027, 10, 30, 18, 30), utc(2027, 10, 30, 19))))
    assert window.end - window.start == timedelta(hours=13)
    assert rota.on_call(utc(2027, 10, 31, 6, 59)) == {BEN}  # 07:59 CET
    assert rota.on_call(utc(2027, 10, 31, 7, 0)) == frozenset()


def test_a_day_shift_keeps_its_wall_clock_times_across_dst() -> None:
    rota = Rota(STOCKHOLM, weekly=(WeeklyShift((ANA,), parse_weekdays(["mon-sun"]), time(9), time(17)),))
    assert rota.on_call(utc(2027, 3, 27, 8)) == {ANA}  # 09:00 CET
    assert rota.on_call(utc(2027, 3, 28, 7)) == {ANA}  # 09:00 CEST
    assert rota.on_call(utc(2027, 3, 28, 15, 30)) == frozenset()  # 17:30 CEST


def test_an_override_replaces_one_person_for_a_while() -> None:
    base = Rota(STOCKHOLM, shifts=(Shift((ANA, BEN), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 20)),))
    rota = base.with_overrides([Override(CORA, utc(2027, 8, 1, 10), utc(2027, 8, 1, 12), covered=BEN)])
    assert rota.on_call(utc(2027, 8, 1, 9)) == {ANA, BEN}
    assert rota.on_call(utc(2027, 8, 1, 11)) == {ANA, CORA}
    assert rota.on_call(utc(2027, 8, 1, 12)) == {ANA, BEN}


def test_who_is_next_and_handovers() -> None:
    rota = Rota(
        STOCKHOLM,
        shifts=(
            Shift((ANA,), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 20)),
            Shift((BEN,), datetime(2027, 8, 1, 20), datetime(2027, 8, 2, 8)),
        ),
    )
    moment, people = rota.next_change(utc(2027, 8, 1, 12)) or (None, None)
    assert moment == utc(2027, 8, 1, 18) and people == {BEN}
    assert rota.shift_starts(utc(2027, 8, 1, 0), utc(2027, 8, 2, 12)) == [
        (utc(2027, 8, 1, 6), frozenset({ANA})),
        (utc(2027, 8, 1, 18), frozenset({BEN})),
    ]


def test_weekday_names_and_ranges() -> None:
    assert parse_weekdays(["mon-fri"]) == {0, 1, 2, 3, 4}
    assert parse_weekdays(["sat-mon"]) == {5, 6, 0}
    with pytest.raises(ValueError):
        parse_weekdays(["someday"])


# --- routing -----------------------------------------------------------------------------------------

NOW = utc(2027, 8, 1, 10)


def a_case(language: str = "en", excluded: tuple[Identity, ...] = (), chosen: Identity | None = None) -> Case:
    return Case(
        None,
        CaseRef("AAA-AAA"),
        SpaceId("demo"),
        CaseState.OPEN,
        Urgency.NORMAL,
        Category.HARASSMENT,
        Role.AFFECTED,
        Source.GUIDED,
        language,
        Pseudonym("R-AAAA"),
        Contact.ANONYMOUS,
        NOW,
        NOW,
        content=CaseContent(excluded=excluded, chosen=chosen),
    )


def keys(found: object) -> set[str]:
    return {p.key for p in found.people}


def test_the_first_page_prefers_speakers_of_the_reporters_language() -> None:
    assert keys(route(demo_space(), a_case("sv"), Target.ONCALL, NOW, first=True)) == {BEN}
    assert keys(route(demo_space(), a_case("es"), Target.ONCALL, NOW, first=True)) == {ANA}
    assert keys(route(demo_space(), a_case("ky"), Target.ONCALL, NOW, first=True)) == {ANA, BEN, CORA}
    assert keys(route(demo_space(), a_case("sv"), Target.ONCALL, NOW, first=False)) == {ANA, BEN, CORA}


def test_pairs_add_a_second_responder_when_only_one_speaks_the_language() -> None:
    space = replace(demo_space(), handling=HandlingPolicy(pairs=True))
    found = route(space, a_case("sv"), Target.ONCALL, NOW, first=True)
    assert len(found.people) == 2 and BEN in keys(found)


def test_conflicts_of_interest_are_never_paged() -> None:
    case = a_case(excluded=(ANA,))
    for target in Target:
        for first in (True, False):
            assert ANA not in keys(route(demo_space(), case, target, NOW, first=first))
    assert not route(demo_space(), case, Target.EVERYONE, NOW, first=True).room, (
        "a restricted case stays out of the room"
    )


def test_the_reporters_choice_is_paged_first() -> None:
    assert keys(route(demo_space(), a_case(chosen=CORA), Target.ONCALL, NOW, first=True)) == {CORA}
    assert keys(route(demo_space(), a_case(chosen=CORA, excluded=(CORA,)), Target.ONCALL, NOW, first=True)) != {CORA}


def test_nobody_on_call_pages_team_and_coordinators_and_flags_the_hole() -> None:
    space = replace(demo_space(), rota=Rota(STOCKHOLM))
    found = route(space, a_case(), Target.ONCALL, NOW, first=True)
    assert found.rota_hole and keys(found) == {ANA, BEN, CORA}


def test_on_call_follows_the_rota() -> None:
    space = replace(
        demo_space(), rota=Rota(STOCKHOLM, shifts=(Shift((BEN,), datetime(2027, 8, 1, 8), datetime(2027, 8, 1, 20)),))
    )
    assert keys(route(space, a_case(), Target.ONCALL, NOW, first=False)) == {BEN}
    assert keys(route(space, a_case(), Target.TEAM, NOW, first=False)) == {ANA, BEN, CORA}
    assert keys(route(space, a_case(), Target.COORDINATORS, NOW, first=False)) == {CORA}


def test_names_in_free_text_are_matched_as_whole_words_without_accents() -> None:
    people = demo_space().responders
    assert named_in("It was BEN, from the team", people) == (BEN,)
    assert named_in("ána and someone else", people) == (ANA,)
    assert named_in("Benjamin and Banana", people) == ()
