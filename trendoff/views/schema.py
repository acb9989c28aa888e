"""THE DDL: views/tables.cql with the keyspace, replication and TTL filled in, applied idempotently."""

from __future__ import annotations

import logging
import re
from importlib import resources

from cassandra.cluster import Session

from trendoff.config import check_keyspace_name, replication_cql
from trendoff.settings import Settings

log = logging.getLogger(__name__)

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
