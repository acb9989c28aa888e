"""The local stack: a KRaft Kafka broker and a Cassandra node as JVM processes from Maven Central jars.

`trendoff stack up` starts both in parallel, waits until Kafka answers metadata and Cassandra
answers CQL, then applies the schema and creates the tweets topic. With TRENDOFF_KAFKA_BOOTSTRAP or
TRENDOFF_CASSANDRA_HOSTS set, the external service is used instead and only checked and prepared.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator

from trendoff.clients import cassandra_io, topics
from trendoff.errors import TrendoffError
from trendoff.settings import Settings
from trendoff.stack import secure
from trendoff.stack.process import LocalService, ServiceState, find_java, port_open
from trendoff.stack.servers import CassandraNode, KafkaBroker
from trendoff.views.schema import apply_schema

log = logging.getLogger(__name__)


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


def _try_lock(lock_file: object) -> bool:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Stack:
    """The Kafka broker and Cassandra node the pipeline uses: local processes or external services."""

    def __init__(self, settings: Settings, secure: bool = False) -> None:
        self.settings = settings
        self.secure = secure
        self.kafka = KafkaBroker(settings, secure)
        self.cassandra = CassandraNode(settings, secure)

    @classmethod
    def open(cls, settings: Settings, secure_asked: bool = False) -> Stack:
        """The stack of these settings, secured when asked or when its data folder was made secured
        (stack/secure.py); its ``settings`` then carry the client side of the security."""
        settings = secure.settings_for_stack(settings, secure_asked)
        return cls(settings, secure=secure.is_secured(settings) and not settings.kafka_external)

    def local_services(self) -> list[LocalService]:
        services: list[LocalService] = []
        if not self.settings.kafka_external:
            services.append(self.kafka)
        if not self.settings.cassandra_external:
            services.append(self.cassandra)
        return services

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `stack up`/`down` at a time per data folder: two at once would each start a broker on the
        same ports and data, and stop the other's. The second waits for the first, then finds its servers."""
        run_dir = self.settings.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        # Data, logs, checkpoints and (later) secrets live here: readable by their owner only.
        run_dir.chmod(0o700)
        with (run_dir / "stack.lock").open("a") as lock:
            if not _try_lock(lock):
                log.info("another `trendoff stack` command holds %s; waiting for it", run_dir / "stack.lock")
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def up(self) -> dict[str, float]:
        """Start what is not running, wait for both, apply schema and topic; return seconds per step."""
        with self._locked():
            return self._up()

    def _up(self) -> dict[str, float]:
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
            except BaseException:  # a server that fails to come up, Ctrl-C, or a bug: none is left half-started
                for service in to_start:
                    if service.process is not None:
                        service.stop(timeout_seconds=20)
                raise
            timings.update({f"{name}_ready_s": float(seconds) for name, seconds in ready.items()})
            timings["servers_ready_s"] = time.monotonic() - started
        self._check_external()
        if self.secure:
            secure.provision_cassandra_role(self.settings)
        started = time.monotonic()
        self.prepare_storage()
        timings["schema_and_topic_s"] = time.monotonic() - started
        return timings

    def _check_external(self) -> None:
        if self.settings.kafka_external:
            topics.wait_for_broker(self.settings, timeout_seconds=30)
        if self.settings.cassandra_external:
            cassandra_io.connect(self.settings).cluster.shutdown()

    def prepare_storage(self) -> None:
        """Keyspace, tables and topic: idempotent, so `up` twice is harmless."""
        session = cassandra_io.connect(self.settings)
        try:
            apply_schema(session, self.settings)
        finally:
            session.cluster.shutdown()
        topics.ensure_topic(
            self.settings, self.settings.topic, self.settings.topic_partitions
        )

    def down(self, wipe: bool = False) -> list[str]:
        """Stop the local processes this stack started; with ``wipe`` delete their data too, and the
        streaming jobs' checkpoints: offsets into a topic that no longer exists would make a later job
        skip (or fail on) the new topic's messages."""
        with self._locked():
            services = self.local_services()
            stopped = _run_parallel({s.name: s.stop for s in services})
            if wipe:
                for service in services:
                    service.wipe()
                shutil.rmtree(self.settings.checkpoint_root, ignore_errors=True)
                # The secured stack's users lived in the data just deleted: new ones come with the next start.
                shutil.rmtree(secure.secure_files(self.settings).folder, ignore_errors=True)
                shutil.rmtree(self.settings.run_dir / "tls", ignore_errors=True)
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
                topics.wait_for_broker(self.settings, timeout_seconds=5)
            else:
                cassandra_io.connect(self.settings, timeout_seconds=5).cluster.shutdown()
        except TrendoffError as error:
            return ServiceState(name, address, external=True, running=False, detail=error.message)
        return ServiceState(name, address, external=True, running=True)
