"""The production deployment files, checked with the real tools that can run here.

systemd-analyze (Debian's systemd; the Makefile installs it when missing), the compose specification's
JSON schema (check-jsonschema, a dev dependency), Synapse's own configuration loader (the Synapse
virtualenv the Matrix tests use). What no tool here can check (building the image, running compose)
is said in docs/operations.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.config import OperationsSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "haven.service"
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)


def directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_systemd_unit_is_hardened_and_restarts_on_failure() -> None:
    unit = directives(UNIT)
    assert unit["User"] == ["haven"] and unit["Group"] == ["haven"], "a dedicated user"
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["StateDirectory"] == ["haven"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["CapabilityBoundingSet"] == [""]
    assert any(v.startswith("master.key:") for v in unit["LoadCredential"])


@pytest.fixture
def unit_root(tmp_path: Path) -> Path:
    """A file system root with the host's system units, the unit, and a stand-in for the haven command."""
    if shutil.which("systemd-analyze") is None or SYSTEM_UNITS is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd; `make test` installs it as root)")
    shutil.copytree(SYSTEM_UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, tmp_path / "etc/systemd/system/haven.service")
    command = tmp_path / "opt/haven/bin/haven"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    return tmp_path


def test_the_systemd_unit_passes_systemd_analyze_verify(unit_root: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={unit_root}", "haven.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"systemd ignores something in the unit:\n{result.stderr}"


def test_the_systemd_sandbox_exposure_is_low(unit_root: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={unit_root}", "--no-pager", "haven.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for haven\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_runs_haven_with_synapse_and_postgresql() -> None:
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"haven", "synapse", "postgres"}
    haven = services["haven"]
    assert haven["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "haven-data:/var/lib/haven" in haven["volumes"] and "haven-key:/var/lib/haven-key" in haven["volumes"]
    assert haven["depends_on"]["synapse"]["condition"] == "service_healthy"
    assert services["synapse"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{port}: publish on loopback only, behind a TLS proxy"
    assert "ports" not in haven, "/healthz and /metrics stay inside the container"


def test_the_synapse_additions_switch_synapse_to_postgresql(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    python = Path(os.environ.get("HAVEN_SYNAPSE_PYTHON", root / ".venv-synapse/bin/python"))
    if not python.exists():
        pytest.skip("no Synapse virtualenv (make synapse creates it)")
    generate = [
        str(python), "-m", "synapse.app.homeserver", "--server-name", "example.org", "--report-stats", "no",
        "--config-path", str(tmp_path / "homeserver.yaml"), "--config-directory", str(tmp_path),
        "--data-directory", str(tmp_path), "--generate-config", "--open-private-ports",
    ]  # fmt: skip
    subprocess.run(generate, check=True, capture_output=True, timeout=120)
    read = (
        "import sys\nfrom synapse.config.homeserver import HomeServerConfig\n"
        "c = HomeServerConfig.load_config('', sys.argv[1:])\n"
        "d = c.database.databases[0].config\n"
        "print(d['name'], d['args']['host'], d['args']['dbname'], c.registration.enable_registration)\n"
    )
    result = subprocess.run(
        [str(python), "-c", read, "-c", str(tmp_path / "homeserver.yaml"), "-c", str(DEPLOY / "synapse/haven.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["psycopg2", "/var/run/postgresql", "synapse", "False"]


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_runs_as_a_user_from_a_pinned_base_with_volumes_and_a_healthcheck() -> None:
    lines = dockerfile()
    base = next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(line.startswith("FROM ${PYTHON_IMAGE}") for line in lines if line.startswith("FROM"))
    users = [line for line in lines if line.startswith("USER")]
    assert users and users[-1].split()[1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("VOLUME") and "/var/lib/haven" in line for line in lines)
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    example = tomllib.loads((DEPLOY / "haven.example.toml").read_text())
    assert f"http://{example['operations']['health']}/healthz" in health
    for line in lines:
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (DEPLOY.parent / source).exists(), f"{source} is not in the repository"


def test_the_reference_configuration_shows_every_operations_key() -> None:
    example = tomllib.loads((DEPLOY / "haven.example.toml").read_text())["operations"]
    names = {f.name for f in dataclasses.fields(OperationsSettings)}
    keys = {"health" if name == "health_address" else name for name in names}
    assert keys == set(example), "every [operations] key is shown in deploy/haven.example.toml"
