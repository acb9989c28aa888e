"""docker-compose.yml and the Dockerfile agree with the local stack (no engine here to run them)."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tests.support import PROJECT_ROOT
from trendoff.apps.cli import COMMANDS
from trendoff.config import ENV_VARS, Settings
from trendoff.times import parse_duration


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def test_services_are_there_with_healthchecks(compose: dict) -> None:
    services = compose["services"]
    assert {"kafka", "cassandra", "init", "ingest", "speed", "batch"} <= set(services)
    for name in ("kafka", "cassandra"):
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD-SHELL" and check["retries"] > 0


def test_ports_match_the_local_stack_defaults(compose: dict) -> None:
    defaults = Settings()
    assert f"{defaults.kafka_port}:9092" in compose["services"]["kafka"]["ports"]
    assert f"{defaults.cassandra_port}:9042" in compose["services"]["cassandra"]["ports"]
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "HOST://localhost:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the project creates the topic


def test_jobs_use_the_documented_variables_and_wait_for_init(compose: dict) -> None:
    known = set(ENV_VARS.values())
    for name in ("init", "ingest", "speed", "batch"):
        service = compose["services"][name]
        assert set(service["environment"]) <= known, f"{name} uses a variable trendoff does not read"
        assert service["environment"]["TRENDOFF_KAFKA_BOOTSTRAP"] == "kafka:19092"
    for name in ("ingest", "speed", "batch"):
        assert compose["services"][name]["depends_on"]["init"]["condition"] == "service_completed_successfully"


def test_each_service_runs_a_trendoff_command_it_accepts(compose: dict) -> None:
    # The image's entry point is `trendoff`, so a command is a subcommand and its flags.
    commands = {name: service["command"] for name, service in compose["services"].items()
                if service.get("image") == "trendoff:local" and "command" in service}
    assert {"init", "ingest", "speed", "batch"} <= set(commands)
    for name, command in commands.items():
        assert command[0] in COMMANDS or command == ["--help"], f"{name}: `trendoff {command[0]}` is no command"
    assert commands["init"][:2] == ["stack", "up"], "init creates the topic and the tables"
    batch = commands["batch"]
    assert parse_duration(batch[batch.index("--every") + 1]) > 0, "the batch schedule is a duration batch accepts"


def test_the_image_copies_every_layer_folder() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for folder in folders | {"jvm"}:
        assert f"COPY {folder} {folder}" in dockerfile
