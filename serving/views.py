"""Reads of the views for serving, straight from Cassandra with prepared statements (no Spark)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

from cassandra.cluster import EXEC_PROFILE_DEFAULT, ResponseFuture, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import tuple_factory

from trendoff.errors import TrendoffError
from trendoff.serving.compare import merge_counts
from trendoff.times import EPOCH
from trendoff.views.keys import BATCH_BUCKETS, batch_bucket, user_key
from trendoff.views.published import Published, prepare_published, read_published

# A picker's answer: at most this many handles.
USERS_LIMIT = 20
# Users found only in the speed view (none of their tweets batched yet) are found by scanning the
# partition keys of speed_words, which has no order by name: at most this many keys per question.
SPEED_USERS_SCAN = 5_000


class ViewReader:
    """Prepared once per process; each comparison reads the published row once and sticks to it.

    A long-lived reader (the HTTP service) may cache: the batch rows of users it was asked about, up to
    ``batch_cache_bytes`` of their JSON text, keyed by (version, user) — a batch version is never
    rewritten once written, so a cached row is never stale, and the text is about a tenth of the size
    of the parsed counts — and the published row for ``published_max_age_seconds`` (a new version is
    then seen that much later; each answer still uses one version throughout). The speed rows are
    always read: they change with every micro-batch. The CLI's one-shot reader caches nothing.
    """

    def __init__(self, session: Session, keyspace: str, batch_cache_bytes: int = 0,
                 published_max_age_seconds: float = 0.0) -> None:
        self.session = session
        self.keyspace = keyspace
        self._batch_cache: OrderedDict[tuple[int, str], str | None] = OrderedDict()
        self._batch_cache_bytes = batch_cache_bytes
        self._batch_cached_bytes = 0
        self._published_max_age = published_max_age_seconds
        self._published_cached: tuple[float, Published] | None = None
        self._lock = threading.Lock()
        # Plain tuples for the per-question reads: the driver's default builds a namedtuple class for
        # every result, which costs more than the rest of reading a row.
        self._tuples = session.execution_profile_clone_update(EXEC_PROFILE_DEFAULT, row_factory=tuple_factory)
        self._published = prepare_published(session, keyspace)
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
        published = read_published(self.session, self.keyspace, self._published)
        if self._published_max_age > 0:
            self._published_cached = (now, published)
        return published

    def _cached_batch_text(self, version: int, key: str) -> tuple[bool, str | None]:
        """(found in the cache, the user's batch JSON text or None when not in that version)."""
        with self._lock:
            if (version, key) not in self._batch_cache:
                return False, None
            self._batch_cache.move_to_end((version, key))
            return True, self._batch_cache[(version, key)]

    def remember_batch_text(self, version: int, key: str, text: str | None) -> None:
        """Keep a batch row's text, within the byte budget (a row larger than all of it is not kept)."""
        size = len(text) if text else 0
        if size > self._batch_cache_bytes:
            return
        with self._lock:
            if (version, key) in self._batch_cache:
                return
            self._batch_cache[(version, key)] = text
            self._batch_cached_bytes += size
            while self._batch_cached_bytes > self._batch_cache_bytes:
                _, dropped = self._batch_cache.popitem(last=False)
                self._batch_cached_bytes -= len(dropped) if dropped else 0

    def user_counts(self, handle: str, published: Published) -> Counter[str]:
        """The user's merged word counts; TrendoffError when the views know no tweet of theirs."""
        return self.start_counts([handle], published).finish()[0]

    def start_counts(self, handles: list[str], published: Published) -> CountsInFlight:
        """Send every read the users' counts need at once (one round trip, not one per row); the answer
        is ``finish()`` of what this returns, which waits for the reads (or, once ``futures`` are done, not)."""
        keys = [user_key(handle) for handle in handles]
        for handle, key in zip(handles, keys, strict=True):
            if not key:
                raise TrendoffError("bad-user", f"{handle!r} is not a user handle")
        since = published.cutoff or EPOCH
        speed = [self.session.execute_async(self._speed, (key, since), execution_profile=self._tuples)
                 for key in keys]
        cached: dict[int, str | None] = {}
        batch: dict[int, ResponseFuture] = {}
        if published.version is not None:
            for n, key in enumerate(keys):
                found, text = self._cached_batch_text(published.version, key)
                if found:
                    cached[n] = text
                else:
                    batch[n] = self.session.execute_async(
                        self._batch, (published.version, batch_bucket(key), key), execution_profile=self._tuples)
        return CountsInFlight(self, published, keys, cached, batch, speed)

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


@dataclass
class CountsInFlight:
    """The reads of some users' counts, sent; ``futures`` for a caller that waits in its own way (the
    service's event loop), ``finish()`` for the answer."""

    reader: ViewReader
    published: Published
    keys: list[str]
    cached: dict[int, str | None]  # position -> batch JSON text found in the reader's cache
    batch: dict[int, ResponseFuture]  # position -> batch row read
    speed: list[ResponseFuture]  # per position: the speed rows after T

    @property
    def futures(self) -> list[ResponseFuture]:
        return [*self.batch.values(), *self.speed]

    def finish(self) -> list[Counter[str]]:
        """Each user's merged counts; TrendoffError for the first user the views know no tweet of."""
        texts = dict(self.cached)
        for n, future in self.batch.items():
            row = future.result().one()
            texts[n] = None if row is None else row[0]
            if self.published.version is not None:
                self.reader.remember_batch_text(self.published.version, self.keys[n], texts[n])
        answers = []
        for n, (key, future) in enumerate(zip(self.keys, self.speed, strict=True)):
            speed_rows: list[tuple[str, int]] = future.result().all()
            text = texts.get(n)
            if text is None and not speed_rows:
                cutoff = self.published.cutoff
                as_of = f" (batch cutoff {cutoff.isoformat()})" if cutoff else ""
                raise TrendoffError(
                    "unknown-user", f"no tweets of @{key} are in the views{as_of}: check the handle, or produce them"
                )
            answers.append(merge_counts(json.loads(text) if text else {}, speed_rows))
        return answers
