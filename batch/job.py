"""Batch layer: recount the whole master table into a new batch-view version, then publish it with T.

Steps of one run: take the arrival cutoff T (batch/cutoff.py); read the master table; keep the
tweets that arrived before T or were csv-loaded (one row per id by construction), skipping (counted by
reason) rows that break a limit of trendoff/tweets/limits.py; count words per (user, word) with the
shared word rule; pack each user's counts into one JSON object; write them under a new version; write
the same counts by event period too (batch/periods.py: per UTC day, month and all time, in bounded
parts; beside batch_words until serving reads them); record the version; publish it by writing the
one `batch_published` row; then delete versions older than the grace period.

Serving only ever reads the published version, and publishing is one single-row write, so a
half-written version is never seen. Readers that read the published row just before a publish keep
reading the version before it, so that one is never deleted, and older ones only after a grace period.

Run:  trendoff batch [--every 15m]      or      spark-submit ... -m trendoff.batch (see README)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cassandra.cluster import Session
from cassandra.query import ValueSequence  # renders (a, b, ...) for IN; a tuple renders as a list
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from trendoff.batch.cutoff import DEFAULT_CLOCK_SKEW_SECONDS, batch_cutoff, messages_lost_to_retention
from trendoff.batch.periods import write_period_view
from trendoff.clients.cassandra_io import SPARK_FORMAT as CASSANDRA
from trendoff.clients.cassandra_io import connect
from trendoff.clients.leases import Lease
from trendoff.clients.spark import job_spark_session
from trendoff.config import add_connection_options, settings_from_args
from trendoff.failpoints import failpoint
from trendoff.settings import ENV_VARS, Settings
from trendoff.times import DURATION_HELP, duration_or_zero_type, duration_type
from trendoff.tweets.limits import limit_violation_column
from trendoff.views.keys import BATCH_BUCKETS, batch_bucket_column, user_key_column
from trendoff.views.published import WORDS_VIEW, read_published, speed_expiry_warning
from trendoff.views.words import user_word_counts

log = logging.getLogger(__name__)
# A user's word counts are one JSON cell (issue 14 splits them). Cassandra refuses a mutation over half
# its commit log segment (8 MiB with jvm/cassandra's 16 MiB, 16 MiB by default) and serving reads the
# cell whole, so a larger cell is not written: the user is logged and reported, the run goes on.
MAX_WORD_COUNTS_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run counts and how long it keeps replaced versions."""

    count_retweets: bool = False
    clock_skew_seconds: float = DEFAULT_CLOCK_SKEW_SECONDS
    keep_minutes: float = 60.0  # grace period for readers still on a replaced version


@dataclass(frozen=True)
class BatchResult:
    version: int
    arrival_cutoff: dt.datetime
    tweets_read: int  # rows of the master table
    tweets_counted: int  # of which arrived before T or were csv-loaded
    users: int  # batch_words rows written
    removed_versions: tuple[int, ...]
    seconds: float
    skipped: dict[str, int] = field(default_factory=dict)  # rows T would count that break a limit, by reason
    oversized_users: dict[str, int] = field(default_factory=dict)  # user -> bytes of a word_counts not written
    published: bool = True  # False: a newer version was published first (by another run)
    lost_to_retention: int = 0  # messages deleted by the topic's retention before ingest read them


def counted_flag(cutoff: dt.datetime) -> F.Column:
    """True for the master rows the batch view counts: csv-loaded history, or arrived before T."""
    return F.coalesce(F.col("csv_loaded"), F.lit(False)) | F.coalesce(F.col("arrived_at") < F.lit(cutoff), F.lit(False))


def _packed_view(counted: DataFrame, version: int, count_retweets: bool) -> DataFrame:
    tweets_per_user = counted.groupBy("user").agg(F.count(F.lit(1)).cast("int").alias("tweets_counted"))
    # Exploded rows filtered by the shared word rule (the same words as words_column, compiled to
    # code rather than a per-row lambda), counted per user and word in one shuffle.
    per_word = user_word_counts(counted, count_retweets=count_retweets).select(
        "user", "word", F.col("count").cast("int").alias("n")
    )
    packed = per_word.groupBy("user").agg(
        F.to_json(F.map_from_entries(F.collect_list(F.struct("word", "n")))).alias("word_counts")
    )
    # Left join: a user whose counted tweets have no words (only retweets, only stop words) still
    # gets a row, "{}", so serving knows the user.
    return tweets_per_user.join(packed, "user", "left").select(
        F.lit(version).cast("long").alias("version"),
        batch_bucket_column(F.col("user")).alias("bucket"),
        "user",
        F.coalesce(F.col("word_counts"), F.lit("{}")).alias("word_counts"),
        "tweets_counted",
    )


def publish(session: Session, version: int, cutoff: dt.datetime) -> bool:
    """Publish ``version`` with its T unless a newer one is published already; True when published.

    One row, one write: serving switches from the old version to this one atomically. The write is a
    compare-and-set, so of two runs at once the older never replaces the newer: neither the version
    nor T ever move backwards (speed's rows between two Ts would otherwise be counted by nobody).
    Idempotent: publishing the same version and T again (a retried run) is applied again.
    """
    now = dt.datetime.now(dt.UTC)
    first = session.execute(
        "INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) VALUES (%s, %s, %s, %s) "
        "IF NOT EXISTS", (WORDS_VIEW, version, cutoff, now))
    if first.was_applied:
        return True
    later = session.execute(
        "UPDATE batch_published SET version = %s, arrival_cutoff = %s, published_at = %s WHERE view_name = %s "
        "IF version <= %s AND arrival_cutoff <= %s", (version, cutoff, now, WORDS_VIEW, version, cutoff))
    if not later.was_applied:
        current = later.one()
        log.warning("batch version %d (T = %s) not published: version %s with T = %s is newer (another run "
                    "finished first)", version, cutoff.isoformat(), current.version,
                    current.arrival_cutoff.replace(tzinfo=dt.UTC).isoformat() if current.arrival_cutoff else None)
    return bool(later.was_applied)


def clean_up_versions(session: Session, keep_minutes: float, now_millis: int | None = None) -> list[int]:
    """Delete versions started before the grace period; never the published one, the one before it,
    or any newer one (another run still writing it).

    A version's number is its start time in epoch milliseconds, so its age is read off the number.
    Unfinished versions older than the grace period (a run that died) are deleted the same way.
    """
    published = read_published(session, None).version
    if published is None:
        return []  # nothing published yet: nothing is known to be replaced
    rows = list(session.execute("SELECT version, finished_at FROM batch_versions WHERE view_name = %s", (WORDS_VIEW,)))
    # The newest finished version before the published one: readers that read the published row
    # just before the switch are still on it.
    before = max((r.version for r in rows if r.finished_at is not None and r.version < published), default=None)
    horizon = (now_millis if now_millis is not None else int(time.time() * 1000)) - int(keep_minutes * 60_000)
    old = sorted(r.version for r in rows if r.version < published and r.version != before and r.version < horizon)
    for version in old:
        # Rows first, then the record: a crash in between leaves the record, so the next run retries.
        for bucket in range(BATCH_BUCKETS):
            for table in ("batch_words", "batch_periods"):
                session.execute(f"DELETE FROM {table} WHERE version = %s AND bucket = %s", (version, bucket))
        session.execute("DELETE FROM batch_versions WHERE view_name = %s AND version = %s", (WORDS_VIEW, version))
    return old


def read_master(spark: SparkSession, settings: Settings) -> DataFrame:
    return (
        spark.read.format(CASSANDRA).options(keyspace=settings.keyspace, table="tweets").load()
        .select("id", "user", "text", "created_at", "is_retweet", "arrived_at", "csv_loaded")
    )


def skip_reason_column() -> F.Column:
    """Why a master row cannot be counted (null when it can): the limits every message is checked
    against at decode (trendoff/tweets/limits.py), which a csv-loaded or older row may still break."""
    return limit_violation_column(F.struct("id", "user", "text", "created_at"))


def _count_rows(master: DataFrame) -> tuple[int, int, dict[str, int]]:
    """(rows read, rows counted, rows T would count but a limit skips, by reason), in one Spark job."""
    tweets_read, tweets_counted, skipped = 0, 0, {}
    for row in master.groupBy("eligible", "skip_reason").count().collect():
        tweets_read += row["count"]
        if row.eligible and row.skip_reason is None:
            tweets_counted += row["count"]
        elif row.eligible:
            skipped[row.skip_reason] = row["count"]
    return tweets_read, tweets_counted, skipped


def _oversized(view: DataFrame) -> tuple[int, dict[str, int]]:
    """The largest word_counts cell in bytes, and the users whose cell is over MAX_WORD_COUNTS_BYTES."""
    size = F.octet_length("word_counts")
    row = view.agg(
        F.max(size).alias("largest"),
        F.collect_list(F.when(size > MAX_WORD_COUNTS_BYTES, F.struct(F.col("user"), size.alias("bytes")))).alias("big"),
    ).first()
    return int(row.largest or 0), {item.user: int(item.bytes) for item in row.big}


def run_batch(
    spark: SparkSession, settings: Settings, options: BatchOptions | None = None, **changes: float | bool
) -> BatchResult:
    """One batch run: T, recount, write the new version, publish it with T, clean up old versions.

    ``changes`` override single fields of ``options`` (``run_batch(spark, settings, clock_skew_seconds=0)``).
    """
    options = dataclasses.replace(options or BatchOptions(), **changes)
    started = time.monotonic()
    session = connect(settings, keyspace=settings.keyspace)  # a few plain statements, none prepared
    try:
        with Lease(session, settings.keyspace, f"batch:{settings.topic}"):
            return _run_batch(spark, settings, session, options, started)
    finally:
        session.cluster.shutdown()


def _run_batch(spark: SparkSession, settings: Settings, session: Session, options: BatchOptions,
               started: float) -> BatchResult:
    """The run itself, under the batch lease (one batch run at a time per keyspace and topic)."""
    # T first: every row that arrives while the job reads is after T, so it is left to speed.
    cutoff = batch_cutoff(settings, session, options.clock_skew_seconds)
    previous = read_published(session, None)
    warning = speed_expiry_warning(previous.cutoff, dt.datetime.now(dt.UTC), settings.speed_ttl_seconds,
                                   advice="this run publishes a newer T; run batch more often")
    if warning:
        log.warning("%s", warning)
    lost = messages_lost_to_retention(settings, session)
    if lost:
        log.warning("%s messages of %s were deleted by the topic's retention before ingest read them (table "
                    "retention_gaps): no layer counts them", f"{lost:,}", settings.topic)
    version = int(time.time() * 1000)
    session.execute(
        "INSERT INTO batch_versions (view_name, version, arrival_cutoff, started_at) VALUES (%s, %s, %s, %s)",
        (WORDS_VIEW, version, cutoff, dt.datetime.now(dt.UTC)),
    )
    # The master table is scanned once: the projection (flags, user key, text) is cached and feeds
    # the totals and the two aggregations of the view (without it, each reads Cassandra again).
    # A row breaking a limit is skipped (with its reason) before the user key or words are made.
    master = read_master(spark, settings).select(
        counted_flag(cutoff).alias("eligible"), skip_reason_column().alias("skip_reason"),
        user_key_column(F.col("user")).alias("user"), "text", "is_retweet", "created_at",
    ).persist(StorageLevel.MEMORY_AND_DISK)
    view = None
    try:
        tweets_read, tweets_counted, skipped = _count_rows(master)
        log.info("batch version %d: T = %s, %s tweets read from the master table, %s of them counted%s",
                 version, cutoff.isoformat(), f"{tweets_read:,}", f"{tweets_counted:,}",
                 f", skipped {skipped}" if skipped else "")
        counted = master.where(F.col("eligible") & F.col("skip_reason").isNull()).drop("eligible", "skip_reason")
        view = _packed_view(counted, version, options.count_retweets).persist(StorageLevel.MEMORY_AND_DISK)
        largest, oversized = _oversized(view)
        log.info("batch version %d: largest word_counts %s bytes", version, f"{largest:,}")
        for user, size in oversized.items():
            log.error("batch version %d: word counts of user %r are %s bytes, over %s: not written (issue 14)",
                      version, user, f"{size:,}", f"{MAX_WORD_COUNTS_BYTES:,}")
        writable = view.where(F.octet_length("word_counts") <= MAX_WORD_COUNTS_BYTES) if oversized else view
        # Idempotent: rows keyed by (version, bucket, user); a retried write rewrites the same rows.
        writable.write.format(CASSANDRA).options(keyspace=settings.keyspace, table="batch_words").mode(
            "append").save()
        log.info("batch version %d: the view by event period", version)
        write_period_view(counted, version, settings, options.count_retweets)
    finally:
        master.unpersist()
        if view is not None:
            view.unpersist()
    users = session.execute(
        "SELECT COUNT(*) FROM batch_words WHERE version = %s AND bucket IN %s",
        (version, ValueSequence(range(BATCH_BUCKETS))), timeout=120,
    ).one()[0]
    log.info("batch version %d: %s users written", version, f"{users:,}")
    failpoint(settings, "batch-before-finished")
    # finished_at marks a complete version (every row written); only then is it published.
    session.execute(
        "UPDATE batch_versions SET finished_at = %s, users = %s, tweets_counted = %s "
        "WHERE view_name = %s AND version = %s",
        (dt.datetime.now(dt.UTC), users, tweets_counted, WORDS_VIEW, version),
    )
    failpoint(settings, "batch-before-publish")
    published = publish(session, version, cutoff)
    removed = clean_up_versions(session, options.keep_minutes)
    result = BatchResult(version, cutoff, tweets_read, tweets_counted, users, tuple(removed),
                         time.monotonic() - started, skipped, oversized, published, lost)
    log.info("batch version %d %s: T = %s, %s tweets counted of %s read, %s users, %.1f s%s%s", version,
             "published" if published else "written, not published", cutoff.isoformat(),
             f"{tweets_counted:,}", f"{tweets_read:,}", f"{users:,}", result.seconds,
             f"; skipped {skipped}" if skipped else "", f"; removed old versions {removed}" if removed else "")
    return result


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff batch", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    parser.add_argument("--every", type=duration_type, metavar="DURATION",
                        help=f"run on a schedule until stopped, {DURATION_HELP}; default: once")
    parser.add_argument("--count-retweets", action="store_true", help="count the words of retweets too")
    parser.add_argument("--clock-skew", dest="clock_skew_seconds", type=duration_or_zero_type, metavar="DURATION",
                        default=DEFAULT_CLOCK_SKEW_SECONDS,
                        help="margin for clock skew between this host and the brokers (default 2s)")
    parser.add_argument("--keep", dest="keep_seconds", type=duration_or_zero_type, default=3600.0, metavar="DURATION",
                        help="keep replaced versions this long for readers still on them (default 1h)")
    args = parser.parse_args(argv)
    period = args.every
    settings = settings_from_args(args)
    if period is not None and period > settings.speed_ttl_seconds / 2:
        log.warning("--every %s is more than half the speed TTL (%s, %s): speed rows may expire before a batch "
                    "covers them", f"{period:g}s", ENV_VARS["speed_ttl_seconds"], f"{settings.speed_ttl_seconds:g}s")
    options = BatchOptions(args.count_retweets, args.clock_skew_seconds, args.keep_seconds / 60.0)
    log.info("batch settings: %s, %s", settings.describe(), options)
    spark = job_spark_session(settings, "trendoff-batch")
    while True:
        started = time.monotonic()
        try:
            result = run_batch(spark, settings, options)
        except Exception:
            if period is None:
                raise
            # On a schedule one failed run (Cassandra or Kafka briefly away) must not end the schedule:
            # the published version stays as it was, and the next run recounts everything anyway.
            log.exception("batch run failed; the next run is in %s", f"{period:g}s")
        else:
            skipped = "".join(f", skipped {n:,} {reason}" for reason, n in sorted(result.skipped.items()))
            oversized = f", word counts too large for {len(result.oversized_users):,} users (not written)" if (
                result.oversized_users) else ""
            lost = f", {result.lost_to_retention:,} lost to retention before ingest read them" if (
                result.lost_to_retention) else ""
            print(f"batch version {result.version}: T = {result.arrival_cutoff.isoformat()}, "
                  f"{result.tweets_counted:,} of {result.tweets_read:,} tweets counted{skipped}{oversized}{lost}, "
                  f"{result.users:,} users, {result.seconds:.1f} s", flush=True)
        if period is None:
            return 0
        time.sleep(max(0.0, period - (time.monotonic() - started)))
