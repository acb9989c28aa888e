"""Helpers of the fault tests (tests/faults): a keyspace and topic of their own on a private stack, jobs
as processes, reads over new sessions (one opened before a server restart may lag). Test modules import
them from here; the general helpers are in tests/support.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import connection_args, unique_name, wait_until
from trendoff.clients import topics
from trendoff.settings import Settings
from trendoff.views.schema import apply_schema


def with_own_keyspace_and_topic(settings: Settings) -> Settings:
    """``settings`` with a new keyspace (the project's schema) and a new topic (3 partitions) on the same servers."""
    from trendoff.clients import cassandra_io
    own = settings.with_overrides(keyspace=unique_name("ks"), topic=unique_name("tweets"), topic_partitions=3)
    session = cassandra_io.connect(own)
    try:
        apply_schema(session, own)
    finally:
        session.cluster.shutdown()
    topics.ensure_topic(own, own.topic, own.topic_partitions)
    return own


def stored_ids(settings: Settings) -> set[int]:
    """Ids in the master table, read over a new driver session (one opened before a server restart may lag)."""
    from trendoff.clients import cassandra_io
    session = cassandra_io.connect(settings)
    try:
        return {row.id for row in session.execute(f"SELECT id FROM {settings.keyspace}.tweets")}
    finally:
        session.cluster.shutdown()


def server_pid(settings: Settings, server: str) -> int:
    """The pid of a local stack's ``kafka`` or ``cassandra`` process (from its pid file)."""
    return int((settings.run_dir / server / "pid").read_text().strip())


def kill_server(settings: Settings, server: str) -> None:
    """kill -9 of the local stack's ``kafka`` or ``cassandra``, returning once its ports are closed (what a
    restart needs; a JVM's main thread shows as a zombie before the threads holding them exit)."""
    from trendoff.stack.process import port_open
    from trendoff.stack.servers import CassandraNode, KafkaBroker

    pid = server_pid(settings, server)
    ports = (KafkaBroker if server == "kafka" else CassandraNode)(settings).ports()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(port_open(port) for port in ports), 60, f"the ports of the killed {server} to close")


def ingest_lag(settings: Settings) -> int | None:
    """Messages ingest has still to land, over a new driver session; None while a server does not answer."""
    from trendoff.clients import cassandra_io
    from trendoff.streaming import progress
    try:
        session = cassandra_io.connect(settings, timeout_seconds=5)
    except Exception:
        return None
    try:
        return progress.lag(session, settings.keyspace, "ingest", settings, settings.topic).total
    except Exception:
        return None
    finally:
        session.cluster.shutdown()


@contextmanager
def ingest_process(settings: Settings, log_path: Path, checkpoint: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`trendoff ingest` running as its own process (500 ms trigger); killed if still running at the end."""
    with log_path.open("wb") as log_file:
        job = subprocess.Popen([sys.executable, "-m", "trendoff.ingest", *connection_args(settings), "--trigger",
                                "500ms", "--checkpoint", str(checkpoint)],
                               stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield job
    finally:
        if job.poll() is None:
            job.kill()
            job.wait(30)

