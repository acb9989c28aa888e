"""Shared fixtures: one real Kafka broker, Cassandra node and SparkSession for the whole test session.

Where they come from, in order: external services when TRENDOFF_KAFKA_BOOTSTRAP and
TRENDOFF_CASSANDRA_HOSTS are both set; containers when a Docker engine answers; otherwise the
project's own local stack (JVM processes from Maven Central jars) on free ports in a temporary
folder. Every test that writes gets its own keyspace and topic, so tests run in any order.
Helper functions live in tests/support.py; this file holds only hooks and fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    DATA_DIR,
    TESTS_DIR,
    delete_topic,
    free_port,
    local_session,
    unique_name,
    wait_until_spark_sees,
)
from trendoff.clients import cassandra_io, topics
from trendoff.config import load_settings
from trendoff.settings import Settings
from trendoff.stack.services import Stack
from trendoff.views.schema import apply_schema

TEST_FOLDERS = ("unit", "integration", "faults", "e2e", "cluster")  # each is also a marker registered in pyproject.toml


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers come from the folder: tests/unit -> unit, tests/integration -> integration, tests/faults ->
    faults, tests/e2e -> e2e, tests/cluster -> cluster.

    A test anywhere else would have no marker, so `-m unit` and `-m "not e2e"` would silently mis-sort it.
    """
    for item in items:
        folder = item.path.relative_to(TESTS_DIR).parts[0]
        if folder not in TEST_FOLDERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(TEST_FOLDERS)}}}/")
        item.add_marker(getattr(pytest.mark, folder))  # --strict-markers: an unregistered name fails here


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


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Kafka broker and a Cassandra node of the module's own (tests/faults kill and pause them), with a
    keyspace and a topic; the suite's shared servers and sessions are never touched."""
    settings = local_stack_settings(load_settings(), tmp_path_factory.mktemp("private-stack")).with_overrides(
        keyspace=unique_name("ks"), topic=unique_name("tweets"), topic_partitions=3)
    stack = Stack(settings)
    try:
        stack.up()  # the schema and the topic too
        yield settings
    finally:
        stack.down(wipe=True)


@pytest.fixture
def make_pipeline_settings(stack_settings: Settings) -> Iterator[Callable[[], Settings]]:
    """A function making Settings with a keyspace (the project's tables) and a topic (3 partitions) of
    their own; each call makes a fresh pair, and every pair is dropped when the test ends."""
    session = cassandra_io.connect(stack_settings)
    made: list[Settings] = []

    def make() -> Settings:
        settings = stack_settings.with_overrides(
            keyspace=unique_name("ks"), topic=unique_name("tweets"), topic_partitions=3
        )
        made.append(settings)  # before creating anything, so a half-made pair is dropped too
        apply_schema(session, settings)
        topics.ensure_topic(settings, settings.topic, settings.topic_partitions)
        wait_until_spark_sees(settings)
        return settings

    try:
        yield make
    finally:
        try:
            for settings in made:
                session.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}", timeout=60)
                delete_topic(settings)
        finally:
            session.cluster.shutdown()


@pytest.fixture
def pipeline_settings(make_pipeline_settings: Callable[[], Settings]) -> Settings:
    """Settings with a keyspace and topic of this test's own, created with the project's schema."""
    return make_pipeline_settings()


@pytest.fixture
def cassandra_session(pipeline_settings: Settings) -> Iterator[object]:
    """A driver session on this test's keyspace."""
    session = cassandra_io.connect(pipeline_settings, keyspace=pipeline_settings.keyspace)
    yield session
    session.cluster.shutdown()


@pytest.fixture(scope="session")
def spark(stack_settings: Settings) -> Iterator[object]:
    """One SparkSession (local[2], connector jars) for the whole test session."""
    from trendoff.clients.spark import spark_session, stop_spark

    session = spark_session(stack_settings, "trendoff-tests")
    yield session
    stop_spark(session)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real tweet archives shipped with the project (data/, with their license note)."""
    return DATA_DIR


@pytest.fixture(scope="module")
def local_spark() -> Iterator[Any]:
    """A Spark session for unit tests of Spark expressions (no Kafka or Cassandra)."""
    yield from local_session()
