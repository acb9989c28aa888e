"""Cassandra access shared by the stack, the jobs and serving: sessions and the one DDL file."""

from __future__ import annotations

import datetime as dt
import logging
import re
import ssl
from importlib import resources

from cassandra import AuthenticationFailed, ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy

from trendoff.clients import security
from trendoff.config import check_keyspace_name, replication_cql
from trendoff.errors import TrendoffError
from trendoff.settings import ENV_VARS, Settings

log = logging.getLogger(__name__)

# The Spark Cassandra Connector's data source name, for spark.read/write.format(...).
SPARK_FORMAT = "org.apache.spark.sql.cassandra"
# The view_name of the words view in batch_published / batch_versions (the only batch view so far).
WORDS_VIEW = "words"

# Tables whose rows expire: their CREATE TABLE in views/tables.cql ends "WITH default_time_to_live".
_TTL_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+) .*WITH default_time_to_live", re.DOTALL)

def ddl_statements(keyspace: str, replication: str, speed_ttl_seconds: float) -> list[str]:
    """The statements of views/tables.cql with the keyspace, replication and TTL filled in."""
    text = resources.files("trendoff.views").joinpath("tables.cql").read_text(encoding="utf-8")
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


def apply_schema(session: Session, settings: Settings) -> None:
    """Create the keyspace and every table if missing (idempotent), and give the expiring tables the
    configured TTL when an existing table has another (CREATE ... IF NOT EXISTS keeps an old one)."""
    keyspace = settings.keyspace
    statements = ddl_statements(keyspace, settings.replication, settings.speed_ttl_seconds)
    for statement in statements:
        session.execute(statement, timeout=60.0)
    ttl = int(settings.speed_ttl_seconds)
    expiring = {found.group(1) for statement in statements if (found := _TTL_TABLE.match(statement))}
    rows = session.execute("SELECT table_name, default_time_to_live FROM system_schema.tables "
                           "WHERE keyspace_name = %s", (keyspace,))
    for row in rows:
        if row.table_name in expiring and row.default_time_to_live != ttl:
            log.info("%s.%s: rows now expire after %d s (was %d s)", keyspace, row.table_name, ttl,
                     row.default_time_to_live)
            session.execute(f"ALTER TABLE {keyspace}.{row.table_name} WITH default_time_to_live = {ttl}",
                            timeout=60.0)
    log.info("schema applied to keyspace %s", keyspace)


def speed_expiry_warning(cutoff: dt.datetime | None, now: dt.datetime, ttl_seconds: float,
                         advice: str = "run `trendoff batch` (or schedule it with --every)") -> str | None:
    """What to tell a user when the published batch is so old that speed rows after its T (which
    serving adds to it) are at risk of expiring before a newer batch covers them: older than half the TTL."""
    if cutoff is None or (now - cutoff).total_seconds() <= ttl_seconds / 2:
        return None
    age_hours = (now - cutoff).total_seconds() / 3600
    return (f"the published batch's T ({cutoff.isoformat()}) is {age_hours:.1f} h old and speed rows expire after "
            f"{ttl_seconds / 3600:g} h, so tweets after T start to drop out of the answers: {advice}")


def ensure_schema(settings: Settings) -> None:
    """Apply the schema over a short-lived session (what every job does before it starts Spark)."""
    session = connect(settings)
    try:
        apply_schema(session, settings)
    finally:
        session.cluster.shutdown()
