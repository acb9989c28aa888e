"""Cassandra access shared by the stack, the jobs and serving: sessions and the one DDL file."""

from __future__ import annotations

import logging
from importlib import resources

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

from trendoff.config import Settings, check_keyspace_name, replication_cql
from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

# The Spark Cassandra Connector's data source name, for spark.read/write.format(...).
SPARK_FORMAT = "org.apache.spark.sql.cassandra"
# The view_name of the words view in batch_published / batch_versions (the only batch view so far).
WORDS_VIEW = "words"

# Comfortably longer than any batch period: a speed row must outlive the batch that replaces it.
DEFAULT_SPEED_TTL_SECONDS = 2 * 24 * 3600

def ddl_statements(
    keyspace: str, replication: str, speed_ttl_seconds: int = DEFAULT_SPEED_TTL_SECONDS
) -> list[str]:
    """The statements of cql/tables.cql with the keyspace, replication and TTL filled in."""
    text = resources.files("trendoff").joinpath("cql/tables.cql").read_text(encoding="utf-8")
    lines = [line.split("--", 1)[0].rstrip() for line in text.splitlines()]
    body = "\n".join(line for line in lines if line.strip())
    filled = (
        body.replace("{keyspace}", check_keyspace_name(keyspace))
        .replace("{replication}", replication_cql(replication))
        .replace("{speed_ttl_seconds}", str(int(speed_ttl_seconds)))
    )
    return [statement.strip() for statement in filled.split(";") if statement.strip()]


def connect(settings: Settings, keyspace: str | None = None, timeout_seconds: float = 10.0) -> Session:
    """A driver session on the configured contact points (close it with ``session.cluster.shutdown()``)."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=30.0
    )
    cluster = Cluster(
        list(settings.cassandra_contact_points),
        port=settings.cassandra_port,
        # Protocol v5 is what Cassandra 4.0+ speaks; naming it saves a negotiation and its warnings.
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=timeout_seconds,
        control_connection_timeout=timeout_seconds,
    )
    try:
        session = cluster.connect(keyspace)
    except NoHostAvailable as error:
        cluster.shutdown()
        where = ",".join(settings.cassandra_contact_points) + f":{settings.cassandra_port}"
        raise TrendoffError(
            "cassandra-unreachable",
            f"cannot reach Cassandra at {where}: is the stack up? (trendoff stack up)",
        ) from error
    return session


def apply_schema(session: Session, keyspace: str, replication: str) -> None:
    """Create the keyspace and every table if missing (idempotent)."""
    for statement in ddl_statements(keyspace, replication):
        session.execute(statement, timeout=60.0)
    log.info("schema applied to keyspace %s", keyspace)


def ensure_schema(settings: Settings) -> None:
    """Apply the schema over a short-lived session (what every job does before it starts Spark)."""
    session = connect(settings)
    try:
        apply_schema(session, settings.keyspace, settings.replication)
    finally:
        session.cluster.shutdown()
