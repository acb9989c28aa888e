"""Cassandra access shared by the stack, the jobs and serving: driver sessions, and the schema applied over one."""

from __future__ import annotations

import logging
import ssl

from cassandra import AuthenticationFailed, ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy

from trendoff.clients import security
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, Settings
from trendoff.views.schema import apply_schema

log = logging.getLogger(__name__)

# The Spark Cassandra Connector's data source name, for spark.read/write.format(...).
SPARK_FORMAT = "org.apache.spark.sql.cassandra"

def connect(settings: Settings, keyspace: str | None = None, timeout_seconds: float = 10.0) -> Session:
    """A driver session on the configured contact points (close it with ``session.cluster.shutdown()``)."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=30.0,
        consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_consistency],
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
    )
    cluster = Cluster(
        list(settings.cassandra_contact_points),
        port=settings.cassandra_port,
        # Protocol v5 is what Cassandra 4.0+ speaks; naming it saves a negotiation and its warnings.
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        # Back within 10 s of a node's return (the default waits up to 10 minutes between tries).
        reconnection_policy=ExponentialReconnectionPolicy(base_delay=1.0, max_delay=10.0),
        connect_timeout=timeout_seconds,
        control_connection_timeout=timeout_seconds,
        **security.cassandra_driver_options(settings),
    )
    try:
        session = cluster.connect(keyspace)
    except NoHostAvailable as error:
        cluster.shutdown()
        raise _connect_failure(settings, error) from error
    return session


def _connect_failure(settings: Settings, error: NoHostAvailable) -> TrendoffError:
    """One line for why no node took the connection: a refused login, an untrusted certificate, or none
    answering. The driver keeps one error per node; the first refusal of a login or a certificate tells."""
    where = ",".join(settings.cassandra_contact_points) + f":{settings.cassandra_port}"
    causes = list((error.errors or {}).values()) if len(error.args) > 1 else []
    for cause in causes:
        if isinstance(cause, AuthenticationFailed):
            reason = "no credentials given" if not settings.cassandra_username else "the credentials were refused"
            return TrendoffError("cassandra-auth", f"Cassandra at {where} refused the login: {reason} (check "
                                 f"{ENV_VARS['cassandra_username']} and {ENV_VARS['cassandra_password']})")
    for cause in causes:
        if isinstance(cause, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return TrendoffError("cassandra-tls", f"Cassandra at {where}: TLS failed ({_first_line(cause)}; check "
                                 f"{ENV_VARS['cassandra_ca_file']} and {ENV_VARS['cassandra_tls']})")
    return TrendoffError("cassandra-unreachable", f"cannot reach Cassandra at {where}: is the stack up? "
                         "(trendoff stack up)")


def _first_line(cause: object) -> str:
    return str(cause).strip().splitlines()[0][:200] if str(cause).strip() else type(cause).__name__


def ensure_schema(settings: Settings) -> None:
    """Apply the schema over a short-lived session (what every job does before it starts Spark)."""
    session = connect(settings)
    try:
        apply_schema(session, settings)
    finally:
        session.cluster.shutdown()
