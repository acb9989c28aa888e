"""One writer per job: a lease in Cassandra, taken and renewed by compare-and-set (lightweight transactions).

Two ingest jobs (or two speeds, or two batch runs) on the same keyspace and topic would each think they
own the progress rows and the batch versions; the second one to start says who holds the lease and
stops instead. The holder renews the lease every TTL/6; a holder that dies stops renewing and its row
expires after the TTL. A holder on this same host whose process is gone (kill -9, then a restart by
`trendoff run`) is taken over at once instead of after the TTL.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from types import TracebackType

from cassandra.cluster import Session

from trendoff.errors import TrendoffError

log = logging.getLogger(__name__)

# Longer than a Cassandra pause the jobs ride out (trendoff/clients/retries.py), renewed every sixth of it.
LEASE_TTL_SECONDS = 90


def _process_gone(holder: str) -> bool:
    """Whether ``holder`` ("host:pid:id") names a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """``with Lease(session, keyspace, "ingest:tweets"):`` holds the lease for the block, or raises
    TrendoffError("lease-held") naming the holder. ``lost`` is set if renewing ever fails to hold it."""

    def __init__(self, session: Session, keyspace: str, name: str, ttl_seconds: int = LEASE_TTL_SECONDS) -> None:
        self.session = session
        self.keyspace = keyspace
        self.name = name
        self.ttl = ttl_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.acquired_at: dt.datetime | None = None

    def acquire(self) -> None:
        now = self.acquired_at = dt.datetime.now(dt.UTC)
        taken = self.session.execute(
            f"INSERT INTO {self.keyspace}.job_leases (name, holder, acquired_at, renewed_at) VALUES (%s, %s, %s, %s) "
            f"IF NOT EXISTS USING TTL {self.ttl}", (self.name, self.holder, now, now))
        if not taken.was_applied:
            current = taken.one()
            if not _process_gone(current.holder) or not self._take_over(current.holder, now):
                renewed = current.renewed_at.replace(tzinfo=dt.UTC) if current.renewed_at else now
                raise TrendoffError(
                    "lease-held", f"{self.name} already runs in keyspace {self.keyspace}: held by {current.holder}, "
                    f"renewed {(now - renewed).total_seconds():.0f} s ago. Stop that one first (if it died, its "
                    f"lease ends within {self.ttl} s)")
        log.info("lease %s taken by %s", self.name, self.holder)
        self._renewer = threading.Thread(target=self._renew_until_stopped, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()

    def _take_over(self, dead_holder: str, now: dt.datetime) -> bool:
        log.warning("lease %s: its holder %s no longer runs on this host; taking it over", self.name, dead_holder)
        return bool(self.session.execute(
            f"UPDATE {self.keyspace}.job_leases USING TTL {self.ttl} SET holder = %s, acquired_at = %s, "
            "renewed_at = %s WHERE name = %s IF holder = %s", (self.holder, now, now, self.name, dead_holder)
        ).was_applied)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 6):
            try:
                # Every cell again: a TTL counts per cell, so renewing renewed_at alone would let the holder expire.
                renewed = self.session.execute(
                    f"UPDATE {self.keyspace}.job_leases USING TTL {self.ttl} SET holder = %s, acquired_at = %s, "
                    "renewed_at = %s WHERE name = %s IF holder = %s",
                    (self.holder, self.acquired_at, dt.datetime.now(dt.UTC), self.name, self.holder)).was_applied
            except Exception as error:  # Cassandra away for a moment: try again; the TTL is the bound
                log.warning("lease %s: could not renew (%s); retrying", self.name, error)
                continue
            if not renewed:
                log.error("lease %s was lost (it expired and another process holds it)", self.name)
                self.lost.set()
                return

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            self.session.execute(f"DELETE FROM {self.keyspace}.job_leases WHERE name = %s IF holder = %s",
                                 (self.name, self.holder))
        except Exception as error:  # it expires by itself
            log.warning("lease %s: could not release (%s); it expires within %d s", self.name, error, self.ttl)

    def check(self) -> None:
        """Raise when the lease was lost: the caller must stop writing."""
        if self.lost.is_set():
            raise TrendoffError("lease-lost", f"{self.name}: the lease was lost to another process; stopping")

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
