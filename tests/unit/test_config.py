"""Configuration: every key parsed, every problem explained, ``haven check`` exits 2 on any of them."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.config import ConfigError, load, parse_policy
from bot.domain.model import Urgency
from bot.domain.space import ContactKind, Target
from bot.i18n import Catalogs

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "haven.example.toml"
LANGUAGES = Catalogs().languages

MINIMAL = """
[storage]
url = "sqlite:///haven.db"

[telegram]
token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"

[[spaces]]
id = "camp"
name = "Camp"
team_room = "telegram:-100123"
coordinators = ["telegram:111"]

  [[spaces.responders]]
  id = "telegram:222"
  name = "Ana"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "haven.toml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), env=env or {}, languages=LANGUAGES)
    return [f"{p.key}: {p.what} | {p.fix}" for p in caught.value.problems]


def test_the_reference_configuration_is_valid_and_covers_every_section() -> None:
    settings = load(EXAMPLE, env={}, languages=LANGUAGES)
    space = settings.spaces[0]
    assert settings.telegram is not None and settings.matrix is not None
    assert settings.storage.path == Path("/var/lib/haven/haven.db")
    assert space.escalation[Urgency.EMERGENCY].steps[0].notify == Target.EVERYONE
    assert space.escalation[Urgency.NORMAL].repeat_every == timedelta(minutes=15)
    assert space.contacts[ContactKind.PSYCHOLOGICAL]
    assert space.rota is not None and len(space.rota.shifts) == 2 and len(space.rota.weekly) == 1
    assert space.handling.pairs and space.handling.retention_days == 180
    assert space.person("matrix:@ben:example.org") == space.person("telegram:333")
    assert space.is_coordinator("matrix:@alice:example.org")
    assert settings.operations.health_address == "127.0.0.1:9108"
    assert settings.matrix.team_rooms == ("!teamroom:example.org",), "the Matrix adapter knows its team rooms"


def test_a_minimal_configuration_gets_sensible_defaults(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MINIMAL), env={}, languages=LANGUAGES)
    assert settings.storage.path == tmp_path / "haven.db"
    assert settings.storage.master_key_file == tmp_path / "master.key"
    space = settings.spaces[0]
    assert space.rota is None and space.timezone == "UTC" and space.languages == ("en",)
    assert [p.name for p in space.responders] == ["Ana", "111"], "a coordinator is a responder too"


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    text = MINIMAL.replace('token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"', "")
    env = {"HAVEN_TELEGRAM_TOKEN": "999:ZYXWVUTSRQPONMLKJIHG", "HAVEN_MASTER_KEY_FILE": "/run/secrets/key"}
    settings = load(write(tmp_path, text), env=env, languages=LANGUAGES)
    assert settings.telegram is not None and settings.telegram.token == "999:ZYXWVUTSRQPONMLKJIHG"
    assert settings.storage.master_key_file == Path("/run/secrets/key")
    assert "ZYXW" not in repr(settings), "secrets never appear in a repr"


@pytest.mark.parametrize(
    ("change", "key", "what"),
    [
        (('url = "sqlite:///haven.db"', 'url = "mysql://x"'), "storage.url", "not a supported database URL"),
        (('url = "sqlite:///haven.db"', 'url = "postgresql://db/haven"'), "storage.url", "PostgreSQL is not supported"),
        (
            ('token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"', 'token = "nope"'),
            "telegram.token",
            "does not look like a bot token",
        ),
        (('id = "camp"', 'id = "Camp Site!"'), "spaces[0].id", "not a valid space id"),
        (('name = "Camp"', 'name = "Camp"\ntimezone = "Mars/Olympus"'), "spaces[0].timezone", "not a time zone"),
        (('name = "Camp"', 'name = "Camp"\nlanguages = ["tlh"]'), "spaces[0].languages", "no catalog for 'tlh'"),
        (
            ('team_room = "telegram:-100123"', 'team_room = "matrix:!room:example.org"'),
            "spaces[0].team_room",
            "matrix, which is not configured",
        ),
        (
            ('team_room = "telegram:-100123"', 'team_room = "telegram:abc"'),
            "spaces[0].team_room",
            "not a valid identity",
        ),
        (
            ('coordinators = ["telegram:111"]', 'coordinators = "everyone"'),
            "spaces[0].coordinators",
            "not a valid identity",
        ),
        (('name = "Camp"', 'name = "Camp"\ncode_word = "hi"'), "spaces[0].code_word", "too short"),
        (('name = "Camp"', 'name = "Camp"\ncolour = "blue"'), "spaces[0].colour", "unknown key"),
        (('url = "sqlite:///haven.db"', 'url = "sqlite:///haven.db"\nurl_typo = 1'), "storage.url_typo", "unknown key"),
        (('name = "Ana"', "name = 42"), "spaces[0].responders[0].name", "not a string"),
    ],
)
def test_each_bad_value_is_named_with_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], key: str, what: str
) -> None:
    found = problems(tmp_path, MINIMAL.replace(*change))
    assert any(p.startswith(f"{key}:") and what in p for p in found), found


def test_an_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace('name = "Camp"', 'name = "Camp"\ntimezon = "UTC"'))
    assert any("did you mean 'timezone'?" in p for p in found)


POLICY_CASES = [
    ("steps = []", "a policy needs at least one step"),
    ('steps = [ { after = "-5m", notify = "oncall" } ]', "is not a duration"),
    ('steps = [ { after = "9000h", notify = "oncall" } ]', "is out of range"),
    ('steps = [ { after = "0s", notify = "the moon" } ]', "is not a target"),
    (
        'steps = [ { after = "5m", notify = "team" }, { after = "1m", notify = "oncall" } ]',
        "comes before the previous step",
    ),
    ('steps = [ { after = "0s", notify = "team" } ]\nrepeat_every = "1s"', "is out of range"),
]


@pytest.mark.parametrize(("policy", "what"), POLICY_CASES)
def test_absurd_policies_are_refused(tmp_path: Path, policy: str, what: str) -> None:
    text = MINIMAL + "\n  [spaces.escalation.normal]\n  " + policy.replace("\n", "\n  ") + "\n"
    found = problems(tmp_path, text)
    assert any(what in p for p in found), found


def test_policy_validation_is_shared_with_the_policy_command() -> None:
    policy, found = parse_policy({"steps": [{"after": "0s", "notify": "oncall"}], "repeat_every": "2m"})
    assert policy is not None and policy.repeat_every == timedelta(minutes=2) and not found
    policy, found = parse_policy({"steps": []})
    assert policy is None and "at least one step" in found[0].what


def test_a_rota_naming_unknown_people_or_impossible_times_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + textwrap.dedent(
        """
          [spaces.rota]
          shifts = [ { responders = ["telegram:999"], start = "2027-08-01T08:00", end = "2027-08-01T20:00" },
                     { responders = ["telegram:222"], start = "2027-08-01T20:00", end = "2027-08-01T08:00" },
                     { responders = ["telegram:222"], start = "tomorrow", end = "2027-08-01T08:00" } ]
          weekly = [ { responders = ["telegram:222"], days = ["funday"], start = "08:00", end = "20:00" } ]
        """
    )
    found = problems(tmp_path, text)
    assert any("'telegram:999' is not a responder of this space" in p for p in found)
    assert any("ends before it starts" in p for p in found)
    assert any("'tomorrow' is not a date and time" in p for p in found)
    assert any("unknown day" in p for p in found)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = MINIMAL.replace('id = "camp"', 'id = "BAD ID"').replace(
        'token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"', 'token = "x"'
    )
    text = text.replace('name = "Camp"', 'name = "Camp"\ntimezone = "Nowhere/Land"')
    assert len(problems(tmp_path, text)) >= 3


def test_no_platform_and_no_space_are_explained(tmp_path: Path) -> None:
    found = problems(tmp_path, '[storage]\nurl = "sqlite:///x.db"\n')
    assert any("no chat platform is configured" in p for p in found)
    assert any("no space is configured" in p for p in found)


def test_a_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "[storage\nurl = 1")
    assert found and "line 1" in found[0]


def test_haven_check_exits_2_and_prints_file_key_problem_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL.replace('name = "Camp"', 'name = "Camp"\ntimezone = "Mars/Olympus"'))
    assert cli.main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: spaces[0].timezone: 'Mars/Olympus' is not a time zone" in err
    assert "fix: use an IANA name" in err


def test_haven_check_exits_0_for_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", str(write(tmp_path, MINIMAL))]) == 0
    assert "OK" in capsys.readouterr().out


def test_haven_run_refuses_a_bad_file_with_the_same_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MINIMAL.replace('id = "camp"', 'id = "NOPE NOPE"'))
    assert cli.main(["run", "--config", str(path)]) == 2
    assert "spaces[0].id" in capsys.readouterr().err


def test_a_missing_file_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_the_telegram_section_knows_the_team_rooms_on_telegram(tmp_path: Path) -> None:
    settings = load(write(tmp_path, MINIMAL), env={}, languages=LANGUAGES)
    assert settings.telegram is not None and settings.telegram.team_rooms == ("telegram:-100123",)
