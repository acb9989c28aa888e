"""The published batch version: the one batch_published row saying which version serving answers from and
its arrival cutoff T, read in one place; and the rule for when the speed rows after T risk expiring."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from trendoff.times import as_utc

# The view_name of the words view in batch_published / batch_versions (the only batch view so far).
WORDS_VIEW = "words"


@dataclass(frozen=True)
class Published:
    """The batch version serving answers from and its arrival cutoff T (None: no batch yet), in aware UTC."""

    version: int | None
    cutoff: dt.datetime | None
    published_at: dt.datetime | None = None


def _published_query(keyspace: str | None, placeholder: str) -> str:
    table = f"{keyspace}.batch_published" if keyspace else "batch_published"
    return f"SELECT version, arrival_cutoff, published_at FROM {table} WHERE view_name = {placeholder}"


def prepare_published(session: Session, keyspace: str) -> PreparedStatement:
    """The read of the published row, prepared once for a process that asks often (serving)."""
    return session.prepare(_published_query(keyspace, "?"))


def read_published(session: Session, keyspace: str | None, prepared: PreparedStatement | None = None) -> Published:
    """The published row (``keyspace`` None: the session's own), its times made aware: the driver returns
    naive UTC datetimes, which would otherwise be read as local time."""
    if prepared is not None:
        row = session.execute(prepared, (WORDS_VIEW,)).one()
    else:
        row = session.execute(_published_query(keyspace, "%s"), (WORDS_VIEW,)).one()
    if row is None:
        return Published(None, None)
    # By position: serving's sessions may hand back plain tuples instead of named rows.
    version, cutoff, published_at = row[0], row[1], row[2]
    return Published(version, as_utc(cutoff), as_utc(published_at))


def speed_expiry_warning(cutoff: dt.datetime | None, now: dt.datetime, ttl_seconds: float,
                         advice: str = "run `trendoff batch` (or schedule it with --every)") -> str | None:
    """What to tell a user when the published batch is so old that speed rows after its T (which
    serving adds to it) are at risk of expiring before a newer batch covers them: older than half the TTL."""
    if cutoff is None or (now - cutoff).total_seconds() <= ttl_seconds / 2:
        return None
    age_hours = (now - cutoff).total_seconds() / 3600
    return (f"the published batch's T ({cutoff.isoformat()}) is {age_hours:.1f} h old and speed rows expire after "
            f"{ttl_seconds / 3600:g} h, so tweets after T start to drop out of the answers: {advice}")
