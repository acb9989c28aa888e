"""docker-compose.yml and the Dockerfile agree with the local stack (no engine here to run them)."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from tests.support import PROJECT_ROOT
from trendoff.apps.cli import COMMANDS
from trendoff.settings import ENV_VARS, Settings
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
    assert f"127.0.0.1:{defaults.kafka_port}:9092" in compose["services"]["kafka"]["ports"]
    assert f"127.0.0.1:{defaults.cassandra_port}:9042" in compose["services"]["cassandra"]["ports"]
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


def test_a_laptop_exposes_nothing_beyond_loopback_and_bounds_every_container(compose: dict) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
        assert service.get("mem_limit"), f"{name} has no memory limit"


def test_server_data_lives_in_named_volumes_like_the_checkpoints(compose: dict) -> None:
    mounts = {name: [m.split(":")[0] for m in compose["services"][name]["volumes"]] for name in ("kafka", "cassandra")}
    assert compose["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in compose["services"]["kafka"]["volumes"]
    assert "cassandra-data:/var/lib/cassandra" in compose["services"]["cassandra"]["volumes"]
    assert {mounts["kafka"][0], mounts["cassandra"][0], "trendoff-run"} <= set(compose["volumes"])


def test_the_image_runs_as_a_user_under_an_init_and_caches_its_dependencies() -> None:
    lines = [line.strip() for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the jobs run as a non-root user"
    assert lines[-1] == 'ENTRYPOINT ["tini", "--", "trendoff"]', "tini passes SIGTERM on and reaps the JVMs"
    first_code_copy = min(i for i, line in enumerate(lines) if line.startswith("COPY trendoff "))
    dependencies = next(i for i, line in enumerate(lines) if "pip install --no-cache-dir -r" in line)
    assert dependencies < first_code_copy, "pyspark is installed in a layer a code edit does not invalidate"
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".jvm", "run", ".git"} <= set(ignored), "the build context carries no downloads or run data"
