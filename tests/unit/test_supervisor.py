"""`trendoff run`'s supervision, with real short-lived child processes: backoff, restarts, stopping, dying together."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import wait_until
from trendoff.apps import run
from trendoff.apps.supervisor import Backoff, ChildSpec, Supervisor, describe_exit, read_status, run_dir_lock
from trendoff.errors import TrendoffError
from trendoff.times import parse_duration as batch_parse_duration

FAST = Backoff(initial_seconds=0.05, cap_seconds=0.2, healthy_seconds=60)


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


SLEEPER = python("import time; print('ready', flush=True); time.sleep(60)")
# Ignores SIGTERM (as a job stuck in a call would), so only SIGKILL ends it.
STUBBORN = python("""
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print('ready', flush=True)
    time.sleep(60)
""")


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by whoever adopted it, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ready(supervisor: Supervisor, name: str) -> bool:
    child = next(c for c in supervisor.children if c.spec.name == name)
    return output_lines(child.log_path).count("ready") == child.starts


def output_lines(log_path: Path) -> list[str]:
    """A child's log as lines (the supervisor's start markers, which quote the code, are lines of their own)."""
    return log_path.read_text().splitlines()


def death_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.name == "trendoff.apps.supervisor"]
    return [message for message in messages if " died " in message]


@pytest.fixture
def supervisors() -> list[Supervisor]:
    """Supervisors a test made; each is stopped at the end, so no child outlives a failed test."""
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.kill_requested = True
        supervisor.stop()


def make(supervisors: list[Supervisor], run_dir: Path, *specs: ChildSpec, **options: object) -> Supervisor:
    supervisor = Supervisor(list(specs), run_dir, **{"backoff": FAST, **options})
    supervisors.append(supervisor)
    return supervisor


def test_backoff_doubles_from_one_second_to_at_most_sixty() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff.delay(100_000) == 60  # days of failures: still the cap, no overflow


def test_backoff_starts_over_after_a_healthy_run() -> None:
    backoff = Backoff()  # healthy after 60 s
    runs = [0.5, 3.0, 59.9, 60.0, 2.0, 600.0]  # seconds each run lasted before the child died
    failures, schedule = 0, []
    for ran_seconds in runs:
        failures, delay = backoff.after_exit(failures, ran_seconds)
        schedule.append((failures, delay))
    assert schedule == [(1, 1), (2, 2), (3, 4), (1, 1), (2, 2), (1, 1)]


def test_exits_are_described_by_code_or_signal_name() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-15) == "signal SIGTERM"
    assert describe_exit(-200) == "signal 200"  # no such signal name: the number


def test_a_dying_child_is_restarted_with_a_growing_delay_and_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, supervisors: list[Supervisor]
) -> None:
    caplog.set_level(logging.INFO, logger="trendoff.apps.supervisor")
    crasher = ChildSpec("crasher", python("import sys; print('crash run', flush=True); sys.exit(3)"))
    supervisor = make(supervisors, tmp_path, crasher)
    supervisor.start()
    starts: list[float] = []
    child = supervisor.children[0]

    def five_deaths() -> bool:
        supervisor.poll()
        if child.starts > len(starts):
            starts.append(child.started_at)
        return child.starts == 5 and child.state == "waiting"

    wait_until(five_deaths, 20, "five runs and deaths", interval_seconds=0.01)
    supervisor.stop()
    lines = death_lines(caplog)
    parsed = [re.fullmatch(r"crasher died \(exit code 3\) after [\d.]+ s; restart (\d+) in ([\d.]+) s", line)
              for line in lines]
    assert all(parsed), lines
    assert [(int(m[1]), float(m[2])) for m in parsed] == [(1, 0.05), (2, 0.1), (3, 0.2), (4, 0.2), (5, 0.2)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= delay for gap, delay in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=True)), gaps
    assert output_lines(child.log_path).count("crash run") == 5
    markers = re.findall(r"--- trendoff run: start (\d+) of crasher", child.log_path.read_text())
    assert [int(n) for n in markers] == [1, 2, 3, 4, 5]
    assert read_status(tmp_path)["children"]["crasher"]["last_exit"] == "exit code 3"


def test_a_child_killed_9_is_named_by_its_signal_and_restarted_as_a_new_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, supervisors: list[Supervisor]
) -> None:
    caplog.set_level(logging.INFO, logger="trendoff.apps.supervisor")
    supervisor = make(supervisors, tmp_path, ChildSpec("sleeper", SLEEPER), ChildSpec("other", SLEEPER))
    supervisor.start()
    wait_until(lambda: ready(supervisor, "sleeper"), 10, "the sleeper to start")
    status = read_status(tmp_path)
    first_pid, other_pid = status["children"]["sleeper"]["pid"], status["children"]["other"]["pid"]
    os.kill(first_pid, signal.SIGKILL)

    def restarted() -> bool:
        supervisor.poll()
        return supervisor.children[0].starts == 2 and ready(supervisor, "sleeper")

    wait_until(restarted, 10, "the restart")
    [line] = death_lines(caplog)
    assert re.fullmatch(r"sleeper died \(signal SIGKILL\) after [\d.]+ s; restart 1 in 0.05 s", line), line
    status = read_status(tmp_path)
    new_pid = status["children"]["sleeper"]["pid"]
    assert new_pid != first_pid and alive(new_pid) and not alive(first_pid)
    assert status["children"]["other"] == {**status["children"]["other"], "pid": other_pid, "starts": 1}


def test_status_file_lists_each_child_in_a_process_group_of_its_own(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    supervisor = make(supervisors, tmp_path, ChildSpec("a", SLEEPER), ChildSpec("b", SLEEPER))
    supervisor.start()
    status = read_status(tmp_path)
    assert status["supervisor_pid"] == os.getpid() and status["state"] == "running"
    pids = [status["children"][name]["pid"] for name in ("a", "b")]
    for name, pid in zip(("a", "b"), pids, strict=True):
        assert alive(pid)
        assert os.getpgid(pid) == pid != os.getpgid(0), "a Ctrl-C in the terminal must reach only the supervisor"
        assert status["children"][name]["state"] == "running"
        assert status["children"][name]["log"] == str(tmp_path / "logs" / f"{name}.log")
    supervisor.stop()
    status = read_status(tmp_path)
    assert status["state"] == "stopped"
    assert {name: (c["state"], c["pid"]) for name, c in status["children"].items()} == {
        "a": ("stopped", None), "b": ("stopped", None)}
    assert not any(alive(pid) for pid in pids)


def test_stop_terminates_each_child_and_kills_one_still_running_at_the_deadline(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, supervisors: list[Supervisor]
) -> None:
    caplog.set_level(logging.INFO, logger="trendoff.apps.supervisor")
    supervisor = make(supervisors, tmp_path, ChildSpec("polite", SLEEPER), ChildSpec("stubborn", STUBBORN),
                      stop_timeout_seconds=1.0)
    supervisor.start()
    wait_until(lambda: ready(supervisor, "polite") and ready(supervisor, "stubborn"), 10, "both children")
    pids = [child.process.pid for child in supervisor.children]
    started = time.monotonic()
    supervisor.stop()
    took = time.monotonic() - started
    assert 1.0 <= took < 5, took
    messages = [r.getMessage() for r in caplog.records if r.name == "trendoff.apps.supervisor"]
    assert any(re.fullmatch(r"polite stopped \(signal SIGTERM\) in 0\.\d s", m) for m in messages), messages
    assert any(re.fullmatch(r"stubborn killed \(signal SIGKILL\): still running 1\.\d s after SIGTERM", m)
               for m in messages), messages
    assert not any(alive(pid) for pid in pids)


def test_a_second_stop_request_kills_at_once(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    supervisor = make(supervisors, tmp_path, ChildSpec("stubborn", STUBBORN), stop_timeout_seconds=30.0)
    supervisor.start()
    wait_until(lambda: ready(supervisor, "stubborn"), 10, "the child")
    pid = supervisor.children[0].process.pid
    supervisor.request_stop()
    supervisor.request_stop()  # a second Ctrl-C
    started = time.monotonic()
    supervisor.stop()
    assert time.monotonic() - started < 3 and not alive(pid)


def test_what_a_dead_child_leaves_in_its_group_dies_before_the_restart(
    tmp_path: Path, supervisors: list[Supervisor]
) -> None:
    # The child starts a grandchild (as a Spark driver starts its JVM) and dies; the grandchild must not live on.
    grandchild_pid_file = tmp_path / "grandchild.pid"
    parent = python(f"""
        import pathlib, subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        pathlib.Path({str(grandchild_pid_file)!r}).write_text(str(grandchild.pid))
        time.sleep(0.3)
        sys.exit(1)
    """)
    supervisor = make(supervisors, tmp_path, ChildSpec("parent", parent),
                      backoff=Backoff(initial_seconds=30, cap_seconds=30))
    supervisor.start()
    grandchild = wait_until(lambda: grandchild_pid_file.exists() and int(grandchild_pid_file.read_text()), 10,
                            "the grandchild's pid")
    assert alive(grandchild)

    def died_once() -> bool:
        supervisor.poll()
        return supervisor.children[0].state == "waiting"

    wait_until(died_once, 10, "the child's death")
    wait_until(lambda: not alive(grandchild), 5, "the grandchild to be killed with its group")


def test_children_die_when_the_supervisor_is_killed_9(tmp_path: Path) -> None:
    supervisor_code = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from trendoff.apps.supervisor import spawn
        child = spawn([sys.executable, "-c", "import time; time.sleep(60)"], Path(sys.argv[1]))
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", supervisor_code, str(tmp_path / "child.log")],
                              stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(holder.stdout.readline())
        assert alive(child_pid)
        holder.kill()
        holder.wait(10)
        wait_until(lambda: not alive(child_pid), 5, "the child to die with its supervisor")
    finally:
        holder.kill()
        holder.wait(10)


def test_one_supervisor_per_run_dir(tmp_path: Path) -> None:
    with run_dir_lock(tmp_path):
        with pytest.raises(TrendoffError) as refused, run_dir_lock(tmp_path):
            pass
        assert refused.value.reason == "already-running"
        assert f"(pid {os.getpid()})" in refused.value.message and str(tmp_path) in refused.value.message
    with run_dir_lock(tmp_path):  # released when the first one ended
        pass


# The command's own pure parts: what it starts, with which settings.

def test_run_starts_each_job_through_its_command_line(tmp_path: Path) -> None:
    args = run.build_parser().parse_args(["--batch-every", "1.5m", "--trigger", "500ms"])
    run.check_arguments(args)
    specs = {spec.name: spec.argv for spec in run.child_specs(args, {})}
    assert specs == {
        "ingest": (sys.executable, "-m", "trendoff.ingest", "--trigger", "0.5s"),
        "speed": (sys.executable, "-m", "trendoff.speed", "--trigger", "0.5s"),
        "batch": (sys.executable, "-m", "trendoff.batch", "--every", "90s"),
    }
    default = run.build_parser().parse_args([])
    assert run.child_specs(default, {})[2].argv[-2:] == ("--every", "900s")
    for seconds, flag in ((900.0, "900s"), (1.5, "1.5s"), (1.0, "1s"), (2.25, "2.25s")):
        assert run._duration_flag(seconds) == flag
        assert batch_parse_duration(flag) == seconds  # a schedule batch accepts


def test_run_passes_the_effective_connection_settings_as_variables() -> None:
    args = run.build_parser().parse_args(["--cassandra", "c1,c2", "--keyspace", "ks_test", "--topic", "t1"])
    settings = run.settings_from_args(args)
    env = run.child_environment(settings, {"PATH": "/bin", "TRENDOFF_KAFKA_BOOTSTRAP": "k:9"})
    assert env == {"PATH": "/bin", "TRENDOFF_KAFKA_BOOTSTRAP": "k:9", "TRENDOFF_CASSANDRA_HOSTS": "c1,c2",
                   "TRENDOFF_CASSANDRA_PORT": "9042", "TRENDOFF_KEYSPACE": "ks_test", "TRENDOFF_TOPIC": "t1"}


@pytest.mark.parametrize(("argv", "reason", "words"), [
    (["--batch-every", "500ms"], "bad-option", "at least 1s"),
    (["--serve-port", "8321"], "bad-option", "go with --serve"),
    (["--serve", "--serve-port", "70000"], "bad-option", "not a port"),
])
def test_run_refuses_bad_arguments_before_anything_starts(argv: list[str], reason: str, words: str) -> None:
    with pytest.raises(TrendoffError) as refused:
        run.check_arguments(run.build_parser().parse_args(argv))
    assert refused.value.reason == reason and words in refused.value.message


def test_serve_is_one_more_child_when_the_command_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    args = run.build_parser().parse_args(["--serve", "--serve-host", "0.0.0.0", "--serve-port", "8400"])
    monkeypatch.setattr(run, "serve_available", lambda: False)
    with pytest.raises(TrendoffError) as refused:
        run.check_arguments(args)
    assert refused.value.reason == "no-serve"
    serve = run.child_specs(args, {})[-1]
    assert serve.name == "serve"
    assert serve.argv == (sys.executable, "-m", "trendoff.apps.cli", "serve", "--host", "0.0.0.0", "--port", "8400")


def test_status_json_is_replaced_whole(tmp_path: Path, supervisors: list[Supervisor]) -> None:
    supervisor = make(supervisors, tmp_path, ChildSpec("a", SLEEPER))
    supervisor.start()
    assert not list(tmp_path.glob("*.tmp"))
    assert json.loads((tmp_path / "supervisor.json").read_text())["children"]["a"]["argv"] == list(SLEEPER)
