"""Process supervision for `trendoff run`: each job a child in its own process group, restarted with a backoff."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

STATUS_FILE = "supervisor.json"  # under the run dir: the children's pids, for people, tests and `trendoff status`
LOCK_FILE = "supervisor.lock"  # under the run dir: held while a supervisor runs there
LOG_FOLDER = "logs"  # under the run dir: one <child>.log each, appended to across restarts
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a child that died: ``initial * 2**(n-1)`` for its n-th failure in a
    row, at most ``cap``. A child that ran ``healthy_seconds`` before dying counts as a first failure again."""

    initial_seconds: float = 1.0
    cap_seconds: float = 60.0
    healthy_seconds: float = 60.0

    def delay(self, failures: int) -> float:
        # The exponent is bounded so a child failing for days never overflows a float.
        return min(self.cap_seconds, self.initial_seconds * 2.0 ** min(max(failures, 1) - 1, 64))

    def after_exit(self, failures: int, ran_seconds: float) -> tuple[int, float]:
        """(failures in a row counting this one, seconds before the restart), given the count before it."""
        failures = 1 if ran_seconds >= self.healthy_seconds else failures + 1
        return failures, self.delay(failures)


def describe_exit(returncode: int) -> str:
    """'exit code 3' or 'signal SIGKILL' (Popen reports death by signal N as -N)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def _death_signal_preexec() -> Callable[[], None] | None:
    """What a child runs between fork and exec so that it is SIGKILLed when the supervisor dies, even by kill -9.

    Without it a `trendoff run` killed -9 (or by the OOM killer) leaves its jobs running unsupervised, and the
    next `trendoff run` starts a second copy of each on the same checkpoints. PR_SET_PDEATHSIG is Linux only,
    survives exec, and fires when the *thread* that forked the child ends, so children are only started from
    the supervisor's main thread, which lives as long as the process. A Spark job's JVM (the child's own child)
    exits by itself when its Python driver dies (it watches its stdin), so it goes too.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now: the child only calls it
    supervisor_pid = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != supervisor_pid:  # the supervisor died before prctl took effect
            os._exit(1)

    return set_death_signal


def spawn(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start one child: its own process group, output appended to ``log_path``, dying with this process."""
    with log_path.open("ab") as output:
        # process_group=0: the child leads a group of its own, so (1) a Ctrl-C in the terminal reaches only
        # the supervisor, which then stops the children itself (and does not restart them as if they had died), and
        # (2) the child's own children (a Spark job's JVM) can be killed with it in one killpg.
        # preexec_fn is unsafe only when another thread may hold a lock the forked child needs; this one
        # calls one C function looked up beforehand and os.getppid, and takes no lock.
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            env=None if env is None else dict(env), process_group=0,
            preexec_fn=_death_signal_preexec(),  # noqa: PLW1509
        )


def has_exited(process: subprocess.Popen[bytes]) -> bool:
    """True once the child has ended, without reaping it: its pid (and so its process group id) stays
    reserved as a zombie until :meth:`Popen.wait`, so a killpg after this can never hit a stranger."""
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # the id now names someone else's group: ours is gone
        return True
    return False


@dataclass(frozen=True)
class ChildSpec:
    """One supervised command: its name (also its log file's), argv and environment (None: this one's)."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = field(default=None, repr=False)


@dataclass
class Child:
    """A child's state: running (``process``), waiting for its restart (``restart_at``) or stopped."""

    spec: ChildSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # monotonic
    starts: int = 0
    failures: int = 0  # in a row, for the backoff
    restart_at: float | None = None  # monotonic
    last_exit: str | None = None

    @property
    def state(self) -> str:
        if self.process is not None:
            return "running"
        return "waiting" if self.restart_at is not None else "stopped"


class Supervisor:
    """Runs the children until :meth:`request_stop`; a child that dies is restarted after its backoff.

    Single-threaded on purpose: children are started from the main thread (see _death_signal_preexec),
    and a signal handler only sets a flag that the loop reads.
    """

    def __init__(self, specs: Sequence[ChildSpec], run_dir: Path, *, backoff: Backoff | None = None,
                 stop_timeout_seconds: float = 30.0, group_grace_seconds: float = 10.0) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must differ: {names}")
        self.backoff = backoff or Backoff()
        self.stop_timeout_seconds = stop_timeout_seconds
        self.group_grace_seconds = group_grace_seconds
        self.log_dir = run_dir / LOG_FOLDER
        self.status_path = run_dir / STATUS_FILE
        self.children = [Child(spec, self.log_dir / f"{spec.name}.log") for spec in specs]
        self.stop_requested = False
        self.kill_requested = False
        self.stopped = False

    def request_stop(self) -> None:
        """Ask for an orderly stop; asked again while stopping, the children still running are killed."""
        if self.stop_requested:
            self.kill_requested = True
        self.stop_requested = True

    def run(self, poll_seconds: float = 0.2) -> None:
        """Start every child, supervise until a stop is requested, then stop them all."""
        try:
            self.start()
            while not self.stop_requested:
                self.poll()
                time.sleep(poll_seconds)
        finally:
            self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            self._start(child)

    def poll(self) -> None:
        """One round: handle the children that died, start those whose backoff is over."""
        for child in self.children:
            now = time.monotonic()
            if child.process is not None and has_exited(child.process):
                self._after_death(child, now)
            elif child.process is None and child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def _start(self, child: Child) -> None:
        with child.log_path.open("a", encoding="utf-8") as output:  # where one run ends and the next begins
            output.write(f"--- trendoff run: start {child.starts + 1} of {child.spec.name} at "
                         f"{_now_iso()}: {' '.join(child.spec.argv)}\n")
        child.process = spawn(child.spec.argv, child.log_path, child.spec.env)
        child.started_at = time.monotonic()
        child.starts += 1
        child.restart_at = None
        self.write_status()
        if child.starts == 1:  # a restart already had its one line (in _after_death)
            log.info("%s started: pid %d, log %s", child.spec.name, child.process.pid, child.log_path)

    def _after_death(self, child: Child, now: float) -> None:
        process = child.process
        assert process is not None
        # What the child left behind in its group (a Spark job's JVM) goes before the restart: two copies of
        # a streaming job on one checkpoint must never run at once.
        kill_group(process.pid)
        returncode = process.wait()
        ran_seconds = now - child.started_at
        child.failures, delay = self.backoff.after_exit(child.failures, ran_seconds)
        child.process = None
        child.restart_at = now + delay
        child.last_exit = describe_exit(returncode)
        log.warning("%s died (%s) after %.1f s; restart %d in %g s", child.spec.name, child.last_exit,
                    ran_seconds, child.starts, delay)
        self.write_status()

    def stop(self) -> None:
        """SIGTERM to each running child, then wait until ``stop_timeout_seconds``; a child still running then,
        or on a second request, is killed with its group.

        SIGTERM, not SIGINT: it is the stop signal every service manager sends (uvicorn stops cleanly on it), and
        on SIGINT pyspark's own handler calls into the JVM from inside the driver's blocked call, which fails
        ("reentrant call") and ends the job with a traceback. On SIGTERM a Spark job's driver ends at once and
        its JVM, seeing its stdin close, shuts down (stopping its streaming query); every write of a
        micro-batch is idempotent and Spark replays an unfinished one from the checkpoint.
        """
        if self.stopped:
            return
        self.stop_requested = True
        started = time.monotonic()
        deadline = started + self.stop_timeout_seconds
        pending = [child for child in self.children if child.process is not None]
        for child in self.children:
            child.restart_at = None
        for child in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        while pending:
            for child in [c for c in pending if has_exited(c.process)]:  # type: ignore[arg-type]
                returncode = self._reap(child, deadline)
                log.info("%s stopped (%s) in %.1f s", child.spec.name, describe_exit(returncode),
                         time.monotonic() - started)
                pending.remove(child)
            if pending and (time.monotonic() >= deadline or self.kill_requested):
                for child in pending:
                    kill_group(child.process.pid)  # type: ignore[union-attr]
                    returncode = self._reap(child, deadline)
                    log.warning("%s killed (%s): still running %.1f s after SIGTERM", child.spec.name,
                                describe_exit(returncode), time.monotonic() - started)
                break
            time.sleep(0.05)
        self.stopped = True
        self.write_status()

    def _reap(self, child: Child, deadline: float) -> int:
        """Wait for the exited (or killed) child, give its group a moment to follow it, then kill what is left."""
        process = child.process
        assert process is not None
        returncode = process.wait()
        child.process = None
        child.last_exit = describe_exit(returncode)
        # A Spark driver's JVM exits by itself once the driver is gone (shutdown hooks: the streaming query,
        # temp folders); the seconds it gets for that are bounded by the stop deadline.
        grace_end = min(deadline, time.monotonic() + self.group_grace_seconds)
        while not group_is_empty(process.pid) and time.monotonic() < grace_end and not self.kill_requested:
            time.sleep(0.05)
        kill_group(process.pid)
        return returncode

    def write_status(self) -> None:
        """The children's pids and states as one JSON file, replaced atomically (readers never see half of it)."""
        now = time.monotonic()
        status = {
            "supervisor_pid": os.getpid(),
            "state": "stopped" if self.stopped else "running",
            "updated_at": _now_iso(),
            "children": {
                child.spec.name: {
                    "state": child.state,
                    "pid": None if child.process is None else child.process.pid,
                    "starts": child.starts,
                    "last_exit": child.last_exit,
                    "restart_in_seconds": None if child.restart_at is None else round(child.restart_at - now, 3),
                    "log": str(child.log_path),
                    "argv": list(child.spec.argv),
                }
                for child in self.children
            },
        }
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.status_path.with_name(self.status_path.name + ".tmp")
        partial.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.status_path)


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run dir's lock, or fail in one line when another supervisor holds it.

    Two supervisors on one run dir would run two copies of each job on the same checkpoints. A flock ends
    with its process however it dies (kill -9 included), so a crashed supervisor never leaves a stale lock;
    children do not inherit it (Popen closes other descriptors).
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (run_dir / LOCK_FILE).open("a+", encoding="utf-8")
    except OSError as error:
        raise TrendoffError("run-dir", f"cannot use {run_dir} for the jobs' logs and pids: {error}") from error
    with lock_file as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise TrendoffError(
                "already-running",
                f"another `trendoff run` (pid {holder}) supervises the jobs of {run_dir}; stop it first, or give "
                "this one its own TRENDOFF_DATA_DIR",
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_status(run_dir: Path) -> dict[str, object] | None:
    """The last status a supervisor wrote under ``run_dir`` (None when none ever ran there)."""
    path = run_dir / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
