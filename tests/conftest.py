"""Shared fixtures: one real Kafka broker, Cassandra node and SparkSession for the whole test session.

Where they come from, in order: external services when TRENDOFF_KAFKA_BOOTSTRAP and
TRENDOFF_CASSANDRA_HOSTS are both set; containers when a Docker engine answers; otherwise the
project's own local stack (JVM processes from Maven Central jars) on free ports in a temporary
folder. Every test that writes gets its own keyspace and topic, so tests run in any order.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from trendoff import cassandra_io, topics
from trendoff.config import Settings, load_settings
from trendoff.stack.services import Stack

TESTS_DIR = Path(__file__).parent
PROJECT_ROOT = TESTS_DIR.parent
DATA_DIR = PROJECT_ROOT / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers come from the folder: tests/unit -> unit, tests/integration -> integration, ..."""
    for item in items:
        folder = Path(str(item.fspath)).relative_to(TESTS_DIR).parts[0]
        if folder in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, folder))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def connection_args(settings: Settings) -> list[str]:
    """The command-line flags that point a trendoff command at the test's services, keyspace and topic."""
    return [
        "--bootstrap", settings.bootstrap_servers,
        "--cassandra", ",".join(settings.cassandra_contact_points),
        "--cassandra-port", str(settings.cassandra_port),
        "--keyspace", settings.keyspace,
        "--topic", settings.topic,
    ]


def _docker_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # no engine, no socket, no permission: use the local stack
        return False


def local_stack_settings(base: Settings, data_dir: Path) -> Settings:
    """Settings for a private local stack on free ports (so a developer's own stack is untouched)."""
    return base.with_overrides(
        data_dir=data_dir,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        cassandra_port=free_port(),
        cassandra_storage_port=free_port(),
        startup_timeout_seconds=240.0,
    )


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Connection settings of a running Kafka broker and Cassandra node, shared by all tests."""
    base = load_settings()
    if base.kafka_external and base.cassandra_external:
        yield base
        return
    if _docker_engine_answers():
        from testcontainers.cassandra import CassandraContainer
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka, CassandraContainer("cassandra:5.0") as cassandra:
            host, port = cassandra.get_contact_points()[0]
            yield base.with_overrides(
                kafka_bootstrap=kafka.get_bootstrap_server(), cassandra_hosts=(host,), cassandra_port=int(port)
            )
        return
    settings = local_stack_settings(base, tmp_path_factory.mktemp("stack"))
    stack = Stack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down(wipe=True)


@pytest.fixture
def pipeline_settings(stack_settings: Settings) -> Iterator[Settings]:
    """Settings with a keyspace and topic of this test's own, created with the project's schema."""
    settings = stack_settings.with_overrides(
        keyspace=unique_name("ks"), topic=unique_name("tweets"), topic_partitions=3
    )
    session = cassandra_io.connect(settings)
    try:
        cassandra_io.apply_schema(session, settings.keyspace, settings.replication)
        topics.ensure_topic(settings.bootstrap_servers, settings.topic, settings.topic_partitions)
        wait_until_spark_sees(settings)
        yield settings
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
        session.cluster.shutdown()
        topics.delete_topic(settings.bootstrap_servers, settings.topic)


def wait_until_spark_sees(settings: Settings, timeout_seconds: float = 60.0) -> None:
    """A running SparkSession's connector learns of a new keyspace from schema events, a moment
    after it is created; reading it before then fails, so wait until it reads."""
    from pyspark.sql import SparkSession
    from pyspark.sql.utils import AnalysisException

    spark = SparkSession.getActiveSession()
    if spark is None:
        return  # a session started later loads the whole schema when it first connects
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            table = spark.read.format("org.apache.spark.sql.cassandra").options(
                keyspace=settings.keyspace, table="batch_published").load()
            if table.columns:
                return
        except AnalysisException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def cassandra_session(pipeline_settings: Settings) -> Iterator[object]:
    """A driver session on this test's keyspace."""
    session = cassandra_io.connect(pipeline_settings, keyspace=pipeline_settings.keyspace)
    yield session
    session.cluster.shutdown()


@pytest.fixture(scope="session")
def spark(stack_settings: Settings) -> Iterator[object]:
    """One SparkSession (local[2], connector jars) for the whole test session."""
    from trendoff.spark import spark_session

    session = spark_session(stack_settings, "trendoff-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real tweet archives shipped with the project (data/, with their license note)."""
    return DATA_DIR
