"""A server of the local stack as a JVM process: started from rendered configs, owned by pid, stopped by pid."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from trendoff.errors import TrendoffError
from trendoff.settings import Settings

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class ServiceState:
    """What `stack status` reports for one service."""

    name: str
    address: str
    external: bool
    running: bool
    pid: int | None = None
    detail: str = ""

    def line(self) -> str:
        where = "external" if self.external else "local"
        state = "up" if self.running else "down"
        pid = f" pid {self.pid}" if self.pid else ""
        detail = f"  {self.detail}" if self.detail else ""
        return f"{self.name:<10} {state:<5} {self.address:<22} ({where}{pid}){detail}"


def port_open(port: int, host: str = "127.0.0.1", timeout_seconds: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


def find_java() -> str:
    """The java executable (JAVA_HOME first, then PATH), or a TrendoffError saying how to get one."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise TrendoffError(
            "no-java",
            "no Java found: install a JDK 17 (Debian: apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME",
        )
    return found


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return f"(no log at {path})"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def read_options(path: Path) -> list[str]:
    """JVM flags from a jvm/*.options file: one per line, # comments and blank lines ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def render_template(template: Path, target: Path, values: dict[str, str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(string.Template(template.read_text(encoding="utf-8")).substitute(values), "utf-8")


def _process_alive(pid: int) -> bool:
    """True when pid runs and is not a zombie (reaping it when it is our own exited child)."""
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    except ChildProcessError:
        pass  # not our child: /proc tells
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class LocalService:
    """One JVM server of the local stack, owned through its pid file in run/<name>/."""

    name: str
    main_class: str

    def __init__(self, settings: Settings, secure: bool = False) -> None:
        self.settings = settings
        # Started with logins and TLS (stack/secure.py); settings then carry the client side of them.
        self.secure = secure
        self.run_dir = settings.run_dir / self.name
        self.jar_dir = settings.downloads_dir / self.name
        self.config_dir = settings.home / "jvm" / self.name
        self.log_file = self.run_dir / f"{self.name}.log"
        self.pid_file = self.run_dir / "pid"
        self.process: subprocess.Popen[bytes] | None = None

    # --- to be provided by each server
    def ports(self) -> list[int]:
        raise NotImplementedError

    def prepare(self, java: str) -> None:
        raise NotImplementedError

    def jvm_arguments(self) -> list[str]:
        raise NotImplementedError

    def probe(self) -> bool:
        """True once the server answers a real request."""
        raise NotImplementedError

    # --- shared behaviour
    @property
    def classpath(self) -> str:
        return str(self.jar_dir / "*")  # the JVM expands this wildcard itself

    def check_jars(self) -> None:
        if not any(self.jar_dir.glob("*.jar")):
            raise TrendoffError(
                "no-jars",
                f"the {self.name} jars are not downloaded to {self.jar_dir}: run `trendoff setup` first",
            )

    def owned_pid(self) -> int | None:
        """The pid from our pid file when that process is alive and really is this server."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _process_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        return pid if self.main_class in cmdline and str(self.run_dir) in cmdline else None

    def start(self, java: str) -> None:
        """Launch the server in its own session so it outlives the command that started it."""
        for port in self.ports():
            if port_open(port):
                raise TrendoffError(
                    "port-in-use",
                    f"port {port} is already in use, so {self.name} cannot start; stop what uses it "
                    f"or choose other ports (see the TRENDOFF_*_PORT variables)",
                )
        self.prepare(java)
        command = [java, *self.jvm_arguments(), "-cp", self.classpath, self.main_class, *self.main_args()]
        log.info("starting %s (log: %s)", self.name, self.log_file)
        with self.log_file.open("ab") as log_handle:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(str(self.process.pid))

    def main_args(self) -> list[str]:
        return []

    def wait_ready(self, timeout_seconds: float) -> float:
        """Wait until :meth:`probe` succeeds; return the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise TrendoffError(
                    "server-died",
                    f"{self.name} exited with code {self.process.returncode} while starting "
                    f"(log: {self.log_file})",
                    detail=log_tail(self.log_file),
                )
            if self.probe():
                return time.monotonic() - started
            time.sleep(0.25)
        raise TrendoffError(
            "server-timeout",
            f"{self.name} did not become ready within {timeout_seconds:.0f} s (log: {self.log_file})",
            detail=log_tail(self.log_file),
        )

    def stop(self, timeout_seconds: float = 60.0) -> bool:
        """Stop the server we started (SIGTERM, then SIGKILL); return whether one was running."""
        pid = self.owned_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        log.info("stopping %s (pid %d)", self.name, pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        while _process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _process_alive(pid):
            log.warning("%s did not stop within %.0f s: killing it", self.name, timeout_seconds)
            os.kill(pid, signal.SIGKILL)
            while _process_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)
