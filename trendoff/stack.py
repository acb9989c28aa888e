"""The local stack: a KRaft Kafka broker and a Cassandra node as JVM processes from Maven Central jars.

`trendoff stack up` starts both in parallel, waits until Kafka answers metadata and Cassandra
answers CQL, then applies the schema and creates the tweets topic. With TRENDOFF_KAFKA_BOOTSTRAP or
TRENDOFF_CASSANDRA_HOSTS set, the external service is used instead and only checked and prepared.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import socket
import string
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trendoff import cassandra_io, topics
from trendoff.config import Settings
from trendoff.errors import TrendoffError

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


def _read_options(path: Path) -> list[str]:
    """JVM flags from a jvm/*.options file: one per line, # comments and blank lines ignored."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _render(template: Path, target: Path, values: dict[str, str]) -> None:
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

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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


class KafkaBroker(LocalService):
    """A single-node KRaft broker+controller (kafka.Kafka) with its storage formatted on first start."""

    name = "kafka"
    main_class = "kafka.Kafka"

    @property
    def properties_file(self) -> Path:
        return self.run_dir / "server.properties"

    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    def prepare(self, java: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _render(
            self.config_dir / "server.properties",
            self.properties_file,
            {
                "kafka_port": str(self.settings.kafka_port),
                "controller_port": str(self.settings.kafka_controller_port),
                "data_dir": str(self.run_dir / "data"),
            },
        )
        cluster_id_file = self.run_dir / "cluster.id"
        if not cluster_id_file.is_file():
            # Kafka's cluster id is a URL-safe base64 UUID without padding.
            cluster_id_file.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())
        formatted = subprocess.run(
            [
                java,
                "-Xmx256m",
                "-cp",
                self.classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id_file.read_text().strip(),
                "-c",
                str(self.properties_file),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if formatted.returncode != 0:
            raise TrendoffError(
                "kafka-format",
                f"formatting Kafka storage in {self.run_dir / 'data'} failed",
                detail=(formatted.stdout + formatted.stderr)[-3000:],
            )

    def jvm_arguments(self) -> list[str]:
        heap = self.settings.kafka_heap_mb
        return [
            f"-Xms{heap}m",
            f"-Xmx{heap}m",
            *_read_options(self.config_dir / "jvm.options"),
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
        ]

    def main_args(self) -> list[str]:
        return [str(self.properties_file)]

    def probe(self) -> bool:
        if not port_open(self.settings.kafka_port):
            return False
        try:
            topics.wait_for_broker(self.settings.bootstrap_servers, timeout_seconds=2.0)
        except TrendoffError:
            return False
        return True


class CassandraNode(LocalService):
    """One Cassandra 5.0 node (CassandraDaemon) configured from jvm/cassandra/."""

    name = "cassandra"
    main_class = "org.apache.cassandra.service.CassandraDaemon"

    def ports(self) -> list[int]:
        return [self.settings.cassandra_port, self.settings.cassandra_storage_port]

    def prepare(self, java: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        _render(
            self.config_dir / "cassandra.yaml",
            self.run_dir / "cassandra.yaml",
            {
                "storage_port": str(self.settings.cassandra_storage_port),
                "cql_port": str(self.settings.cassandra_port),
                "data_dir": str(self.run_dir / "data"),
            },
        )

    def jvm_arguments(self) -> list[str]:
        heap = self.settings.cassandra_heap_mb
        return [
            f"-Xms{heap}m",
            f"-Xmx{heap}m",
            *_read_options(self.config_dir / "jvm17.options"),
            f"-Dcassandra.config=file://{self.run_dir / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.run_dir / 'data'}",
            f"-Dcassandra.logdir={self.run_dir / 'logs'}",
            f"-Dlogback.configurationFile={self.config_dir / 'logback.xml'}",
        ]

    def probe(self) -> bool:
        if not port_open(self.settings.cassandra_port):
            return False
        try:
            session = cassandra_io.connect(self.settings, timeout_seconds=3.0)
        except TrendoffError:
            return False
        try:
            return session.execute("SELECT release_version FROM system.local").one() is not None
        except Exception:  # the node may still be finishing start-up; the next probe tells
            return False
        finally:
            session.cluster.shutdown()


def _run_parallel(tasks: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run each task in its own thread; re-raise the first error after all have finished."""
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def run(name: str, task: Callable[[], object]) -> None:
        try:
            results[name] = task()
        except BaseException as error:  # collected and re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in tasks.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


class Stack:
    """The Kafka broker and Cassandra node the pipeline uses: local processes or external services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = KafkaBroker(settings)
        self.cassandra = CassandraNode(settings)

    def local_services(self) -> list[LocalService]:
        services: list[LocalService] = []
        if not self.settings.kafka_external:
            services.append(self.kafka)
        if not self.settings.cassandra_external:
            services.append(self.cassandra)
        return services

    def up(self) -> dict[str, float]:
        """Start what is not running, wait for both, apply schema and topic; return seconds per step."""
        timings: dict[str, float] = {}
        to_start = [service for service in self.local_services() if service.owned_pid() is None]
        if to_start:
            java = find_java()
            for service in to_start:
                service.check_jars()
            started = time.monotonic()
            try:
                for service in to_start:
                    service.start(java)
                ready = _run_parallel(
                    {
                        s.name: (lambda s=s: s.wait_ready(self.settings.startup_timeout_seconds))
                        for s in to_start
                    }
                )
            except TrendoffError:
                for service in to_start:
                    if service.process is not None:
                        service.stop(timeout_seconds=20)
                raise
            timings.update({f"{name}_ready_s": float(seconds) for name, seconds in ready.items()})
            timings["servers_ready_s"] = time.monotonic() - started
        self._check_external()
        started = time.monotonic()
        self.prepare_storage()
        timings["schema_and_topic_s"] = time.monotonic() - started
        return timings

    def _check_external(self) -> None:
        if self.settings.kafka_external:
            topics.wait_for_broker(self.settings.bootstrap_servers, timeout_seconds=30)
        if self.settings.cassandra_external:
            cassandra_io.connect(self.settings).cluster.shutdown()

    def prepare_storage(self) -> None:
        """Keyspace, tables and topic: idempotent, so `up` twice is harmless."""
        session = cassandra_io.connect(self.settings)
        try:
            cassandra_io.apply_schema(session, self.settings.keyspace, self.settings.replication)
        finally:
            session.cluster.shutdown()
        topics.ensure_topic(
            self.settings.bootstrap_servers, self.settings.topic, self.settings.topic_partitions
        )

    def down(self, wipe: bool = False) -> list[str]:
        """Stop the local processes this stack started; with ``wipe`` delete their data too."""
        services = self.local_services()
        stopped = _run_parallel({s.name: s.stop for s in services})
        if wipe:
            for service in services:
                service.wipe()
        return [name for name, was_running in stopped.items() if was_running]

    def status(self) -> list[ServiceState]:
        states = []
        if self.settings.kafka_external:
            states.append(self._external_state("kafka", self.settings.bootstrap_servers))
        else:
            states.append(self._local_state(self.kafka, f"127.0.0.1:{self.settings.kafka_port}"))
        hosts = ",".join(self.settings.cassandra_contact_points)
        cassandra_address = f"{hosts}:{self.settings.cassandra_port}"
        if self.settings.cassandra_external:
            states.append(self._external_state("cassandra", cassandra_address))
        else:
            states.append(self._local_state(self.cassandra, cassandra_address))
        return states

    @staticmethod
    def _local_state(service: LocalService, address: str) -> ServiceState:
        pid = service.owned_pid()
        if pid is None:
            busy = [port for port in service.ports() if port_open(port)]
            detail = f"port {busy[0]} is used by another process" if busy else ""
            return ServiceState(service.name, address, external=False, running=False, detail=detail)
        answering = service.probe()
        return ServiceState(
            service.name,
            address,
            external=False,
            running=answering,
            pid=pid,
            detail="" if answering else "process runs but does not answer yet",
        )

    def _external_state(self, name: str, address: str) -> ServiceState:
        try:
            if name == "kafka":
                topics.wait_for_broker(address, timeout_seconds=5)
            else:
                cassandra_io.connect(self.settings, timeout_seconds=5).cluster.shutdown()
        except TrendoffError as error:
            return ServiceState(name, address, external=True, running=False, detail=error.message)
        return ServiceState(name, address, external=True, running=True)
