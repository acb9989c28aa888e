"""`trendoff stack up|status|down` as a user runs them, on a private data folder and free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, free_port

TRENDOFF = [sys.executable, "-m", "trendoff.apps.cli"]


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRENDOFF, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDOFF_")}
    env.update(
        TRENDOFF_DATA_DIR=str(tmp_path / "run"),
        TRENDOFF_KAFKA_PORT=str(free_port()),
        TRENDOFF_KAFKA_CONTROLLER_PORT=str(free_port()),
        TRENDOFF_CASSANDRA_PORT=str(free_port()),
        TRENDOFF_CASSANDRA_STORAGE_PORT=str(free_port()),
        TRENDOFF_STARTUP_TIMEOUT_SECONDS="240",
    )
    return env


def pid_of(run_dir: Path, service: str) -> int:
    return int((run_dir / service / "pid").read_text())


def test_up_status_up_again_down_leaves_no_process(stack_env: dict[str, str]) -> None:
    run_dir = Path(stack_env["TRENDOFF_DATA_DIR"])
    try:
        # Two `up` at once (a user in two terminals): one starts the servers, the other waits and reuses them.
        racing = [subprocess.Popen([*TRENDOFF, "stack", "up"], env=stack_env, cwd=PROJECT_ROOT, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        outputs = [process.communicate(timeout=300) for process in racing]
        for process, (stdout, stderr) in zip(racing, outputs, strict=True):
            assert process.returncode == 0, stderr
            assert "kafka      up" in stdout and "cassandra  up" in stdout
        pids = {service: pid_of(run_dir, service) for service in ("kafka", "cassandra")}
        assert all(f"pid {pid}" in stdout for pid in pids.values() for stdout, _ in outputs)
        assert run_dir.stat().st_mode & 0o777 == 0o700, "run/ holds data and logs: its owner's only"

        status = run(["stack", "status"], stack_env)
        assert status.returncode == 0
        assert f"pid {pids['kafka']}" in status.stdout and f"pid {pids['cassandra']}" in status.stdout

        again = run(["stack", "up"], stack_env)
        assert again.returncode == 0, again.stderr
        assert {s: pid_of(run_dir, s) for s in pids} == pids, "a second `up` must reuse the running servers"
    finally:
        down = run(["stack", "down"], stack_env)
    assert down.returncode == 0, down.stderr
    assert "kafka" in down.stdout and "cassandra" in down.stdout
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert (run_dir / "kafka" / "data").is_dir(), "down keeps the data unless --wipe"

    after = run(["stack", "status"], stack_env)
    assert after.returncode == 1 and "down" in after.stdout

    checkpoint = run_dir / "checkpoints" / "ingest-trendoff-tweets" / "offsets"
    checkpoint.mkdir(parents=True)
    wiped = run(["stack", "down", "--wipe"], stack_env)
    assert wiped.returncode == 0 and not (run_dir / "kafka").exists() and not (run_dir / "cassandra").exists()
    assert not (run_dir / "checkpoints").exists(), "checkpoints describe the wiped topic: they go with it"


def test_a_port_in_use_is_one_clear_line(stack_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(stack_env["TRENDOFF_KAFKA_PORT"])))
        squatter.listen()
        result = run(["stack", "up"], stack_env)
    run(["stack", "down"], stack_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"port {stack_env['TRENDOFF_KAFKA_PORT']} is already in use" in result.stderr


def test_no_java_is_one_clear_line(stack_env: dict[str, str]) -> None:
    env = dict(stack_env, PATH=str(Path(sys.executable).parent), JAVA_HOME="")
    result = run(["stack", "up"], env)
    assert result.returncode == 2
    assert "no Java found" in result.stderr and "Traceback" not in result.stderr


def test_missing_jars_say_to_run_setup(stack_env: dict[str, str], tmp_path: Path) -> None:
    env = dict(stack_env, TRENDOFF_JVM_DIR=str(tmp_path / "empty"))
    result = run(["stack", "up"], env)
    assert result.returncode == 2
    assert "trendoff setup" in result.stderr and "Traceback" not in result.stderr


def test_a_server_that_dies_while_starting_shows_its_log(stack_env: dict[str, str]) -> None:
    env = dict(stack_env, TRENDOFF_CASSANDRA_HEAP_MB="1")  # the JVM refuses a 1 MB heap at once
    result = run(["stack", "up"], env)
    run(["stack", "down"], env)
    assert result.returncode == 2
    assert "cassandra exited with code" in result.stderr and "Traceback" not in result.stderr
    assert "heap" in result.stderr.lower()


def test_status_of_unreachable_external_services(stack_env: dict[str, str]) -> None:
    env = dict(
        stack_env,
        TRENDOFF_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        TRENDOFF_CASSANDRA_HOSTS="127.0.0.1",
        TRENDOFF_CASSANDRA_PORT=str(free_port()),
    )
    result = run(["stack", "status"], env, timeout=60)
    assert result.returncode == 1
    assert "(external)" in result.stdout and "Traceback" not in result.stderr
