"""Reads of the views for serving, straight from Cassandra with prepared statements (no Spark)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from trendoff.cassandra_io import WORDS_VIEW
from trendoff.errors import TrendoffError
from trendoff.serving.compare import merge_counts
from trendoff.view_keys import BATCH_BUCKETS, batch_bucket, user_key

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A picker's answer: at most this many handles.
USERS_LIMIT = 20
# Users found only in the speed view (none of their tweets batched yet) are found by scanning the
# partition keys of speed_words, which has no order by name: at most this many keys per question.
SPEED_USERS_SCAN = 5_000


@dataclass(frozen=True)
class Published:
    """The batch version serving answers from and its arrival cutoff T (None: no batch yet)."""

    version: int | None
    cutoff: dt.datetime | None


class ViewReader:
    """Prepared once per process; each comparison reads the published row once and sticks to it.

    A long-lived reader (the HTTP service) may cache: ``batch_cache_size`` users' batch counts, keyed by
    (version, user) — a batch version is never rewritten once written, so a cached row is never stale —
    and the published row for ``published_max_age_seconds`` (a new version is then seen that much later;
    each answer still uses one version throughout). The CLI's one-shot reader caches nothing.
    """

    def __init__(self, session: Session, keyspace: str, batch_cache_size: int = 0,
                 published_max_age_seconds: float = 0.0) -> None:
        self.session = session
        self._batch_cache: OrderedDict[tuple[int, str], dict[str, int] | None] = OrderedDict()
        self._batch_cache_size = batch_cache_size
        self._published_max_age = published_max_age_seconds
        self._published_cached: tuple[float, Published] | None = None
        self._lock = threading.Lock()
        self._published = session.prepare(
            f"SELECT version, arrival_cutoff FROM {keyspace}.batch_published WHERE view_name = ?"
        )
        self._batch = session.prepare(
            f"SELECT word_counts, tweets_counted FROM {keyspace}.batch_words "
            "WHERE version = ? AND bucket = ? AND user = ?"
        )
        self._speed = session.prepare(
            f"SELECT word, count FROM {keyspace}.speed_words WHERE user = ? AND arrival_minute >= ?"
        )
        # batch_words keeps each bucket's users sorted (clustering key), so a prefix is a range read.
        self._batch_users = session.prepare(
            f"SELECT user FROM {keyspace}.batch_words WHERE version = ? AND bucket = ? AND user >= ? LIMIT ?"
        )
        self._speed_users = session.prepare(f"SELECT DISTINCT user FROM {keyspace}.speed_words LIMIT ?")

    def published(self) -> Published:
        now = time.monotonic()
        cached = self._published_cached
        if cached is not None and now - cached[0] < self._published_max_age:
            return cached[1]
        row = self.session.execute(self._published, (WORDS_VIEW,)).one()
        if row is None:
            published = Published(None, None)
        else:
            cutoff = row.arrival_cutoff.replace(tzinfo=dt.UTC) if row.arrival_cutoff else None
            published = Published(row.version, cutoff)
        if self._published_max_age > 0:
            self._published_cached = (now, published)
        return published

    def _batch_counts(self, version: int, key: str) -> dict[str, int] | None:
        """The user's counts in batch version ``version`` (None: not in it), through the cache if any."""
        with self._lock:
            if (version, key) in self._batch_cache:
                self._batch_cache.move_to_end((version, key))
                return self._batch_cache[(version, key)]
        row = self.session.execute(self._batch, (version, batch_bucket(key), key)).one()
        counts = None if row is None else json.loads(row.word_counts)
        if self._batch_cache_size > 0:
            with self._lock:
                self._batch_cache[(version, key)] = counts
                while len(self._batch_cache) > self._batch_cache_size:
                    self._batch_cache.popitem(last=False)
        return counts

    def user_counts(self, handle: str, published: Published) -> Counter[str]:
        """The user's merged word counts; TrendoffError when the views know no tweet of theirs."""
        key = user_key(handle)
        if not key:
            raise TrendoffError("bad-user", f"{handle!r} is not a user handle")
        batch_counts: dict[str, int] = {}
        known = False
        if published.version is not None:
            found = self._batch_counts(published.version, key)
            if found is not None:
                known = True
                batch_counts = found
        since = published.cutoff or _EPOCH
        speed_rows = [(r.word, r.count) for r in self.session.execute(self._speed, (key, since))]
        if not known and not speed_rows:
            as_of = f" (batch cutoff {published.cutoff.isoformat()})" if published.cutoff else ""
            raise TrendoffError(
                "unknown-user", f"no tweets of @{key} are in the views{as_of}: check the handle, or produce them"
            )
        return merge_counts(batch_counts, speed_rows)

    def users(self, prefix: str, published: Published, limit: int = USERS_LIMIT) -> list[str]:
        """Up to ``limit`` user keys starting with ``prefix`` (matched as the views key users), sorted.

        Batch users of the published version: one range read per bucket, ``limit`` rows each (a bucket's
        first ``limit`` keys from ``prefix`` on hold all its matches that can make the answer). Users
        with speed rows only: among the first SPEED_USERS_SCAN partition keys of speed_words.
        """
        key = user_key(prefix)
        found: set[str] = set()
        if published.version is not None:
            params = [(published.version, bucket, key, limit) for bucket in range(BATCH_BUCKETS)]
            for success, rows in execute_concurrent_with_args(self.session, self._batch_users, params,
                                                              concurrency=BATCH_BUCKETS, raise_on_first_error=True):
                found.update(row.user for row in rows if success and row.user.startswith(key))
        speed_keys = self.session.execute(self._speed_users, (SPEED_USERS_SCAN,))
        found.update(row.user for row in speed_keys if row.user.startswith(key))
        return sorted(found)[:limit]
