"""Batch layer: recount the whole master table into a new batch-view version, then publish it with T.

Serving only ever reads the published version, and publishing is one single-row write, so a
half-written version is never seen. Old versions are deleted after a grace period.

Run:  trendoff batch [--every 15m]      or      spark-submit ... -m trendoff.batch (see README)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cassandra.cluster import Session
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from trendoff.arrival import batch_cutoff
from trendoff.cassandra_io import apply_schema, connect
from trendoff.config import Settings, add_connection_options, settings_from_args
from trendoff.errors import TrendoffError
from trendoff.spark import spark_session
from trendoff.view_keys import BATCH_BUCKETS, batch_bucket_column, user_key_column
from trendoff.words import user_word_counts

log = logging.getLogger(__name__)
CASSANDRA = "org.apache.spark.sql.cassandra"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


@dataclass(frozen=True)
class BatchResult:
    version: int
    arrival_cutoff: dt.datetime
    users: int
    tweets_counted: int
    seconds: float


def parse_duration(raw: str) -> float:
    """'30s', '15m', '1h' -> seconds."""
    matched = _DURATION.match(raw.strip())
    if not matched or float(matched.group(1)) <= 0:
        raise TrendoffError("bad-duration", f"{raw!r} is not a duration like 30s, 15m or 1h")
    return float(matched.group(1)) * {"s": 1, "m": 60, "h": 3600}[matched.group(2)]


def batch_view(master: DataFrame, cutoff: dt.datetime, version: int, count_retweets: bool) -> DataFrame:
    """batch_words rows: per user, the word counts of every tweet that arrived before T or was csv-loaded."""
    counted = master.where(
        F.coalesce(F.col("csv_loaded"), F.lit(False))
        | (F.col("arrived_at").isNotNull() & (F.col("arrived_at") < F.lit(cutoff)))
    ).select("id", user_key_column(F.col("user")).alias("user"), "text", "is_retweet")
    tweets_per_user = counted.groupBy("user").agg(F.count(F.lit(1)).cast("int").alias("tweets_counted"))
    # One row per id in the master table, so words are counted per user straight away (one shuffle).
    per_word = user_word_counts(counted, count_retweets=count_retweets).select(
        "user", "word", F.col("count").cast("int").alias("n")
    )
    packed = per_word.groupBy("user").agg(
        F.to_json(F.map_from_entries(F.collect_list(F.struct("word", "n")))).alias("word_counts")
    )
    return tweets_per_user.join(packed, "user", "left").select(
        F.lit(version).cast("long").alias("version"),
        batch_bucket_column(F.col("user")).alias("bucket"),
        "user",
        F.coalesce(F.col("word_counts"), F.lit("{}")).alias("word_counts"),
        "tweets_counted",
    )


def publish(session: Session, version: int, cutoff: dt.datetime) -> None:
    # One row, one write: serving switches from the old version to this one atomically.
    session.execute(
        "INSERT INTO batch_published (view_name, version, arrival_cutoff, published_at) VALUES ('words', %s, %s, %s)",
        (version, cutoff, dt.datetime.now(dt.UTC)),
    )


def clean_up_versions(session: Session, keep_minutes: float) -> list[int]:
    """Delete versions older than the grace period, never the published one or the newest before it."""
    published = session.execute("SELECT version FROM batch_published WHERE view_name = 'words'").one()
    rows = list(session.execute("SELECT version, finished_at FROM batch_versions WHERE view_name = 'words'"))
    finished = sorted((r.version for r in rows if r.finished_at is not None), reverse=True)
    protected = set(finished[:2]) | ({published.version} if published else set())
    horizon = int((time.time() - keep_minutes * 60) * 1000)
    old = [r.version for r in rows if r.version not in protected and r.version < horizon]
    for version in old:
        for bucket in range(BATCH_BUCKETS):
            session.execute("DELETE FROM batch_words WHERE version = %s AND bucket = %s", (version, bucket))
        session.execute("DELETE FROM batch_versions WHERE view_name = 'words' AND version = %s", (version,))
    return old


def run_batch(
    spark: SparkSession,
    settings: Settings,
    *,
    count_retweets: bool = False,
    clock_skew_seconds: float = 2.0,
    keep_minutes: float = 60.0,
) -> BatchResult:
    """One batch run: T, recount, write the new version, publish it with T, clean up old versions."""
    started = time.monotonic()
    session = connect(settings, keyspace=settings.keyspace)  # a few plain statements, none prepared
    try:
        cutoff = batch_cutoff(settings, session, clock_skew_seconds)
        version = int(time.time() * 1000)
        session.execute(
            "INSERT INTO batch_versions (view_name, version, arrival_cutoff, started_at) VALUES ('words', %s, %s, %s)",
            (version, cutoff, dt.datetime.now(dt.UTC)),
        )
        master = (
            spark.read.format(CASSANDRA).options(keyspace=settings.keyspace, table="tweets").load()
            .select("id", "user", "text", "is_retweet", "arrived_at", "csv_loaded")
        )
        view = batch_view(master, cutoff, version, count_retweets).persist()
        try:
            view.write.format(CASSANDRA).options(keyspace=settings.keyspace, table="batch_words").mode("append").save()
            totals = view.agg(F.count(F.lit(1)).alias("users"), F.sum("tweets_counted").alias("tweets")).first()
        finally:
            view.unpersist()
        users, tweets = int(totals.users), int(totals.tweets or 0)
        publish(session, version, cutoff)
        session.execute(
            "UPDATE batch_versions SET finished_at = %s, users = %s, tweets_counted = %s "
            "WHERE view_name = 'words' AND version = %s",
            (dt.datetime.now(dt.UTC), users, tweets, version),
        )
        removed = clean_up_versions(session, keep_minutes)
        result = BatchResult(version, cutoff, users, tweets, time.monotonic() - started)
        log.info("batch version %d published: T = %s, %s tweets of %s users in %.1f s%s", version,
                 cutoff.isoformat(), f"{tweets:,}", f"{users:,}", result.seconds,
                 f"; removed old versions {removed}" if removed else "")
        return result
    finally:
        session.cluster.shutdown()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff batch", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    parser.add_argument("--every", help="run on a schedule (e.g. 15m, 1h) until stopped; default: once")
    parser.add_argument("--count-retweets", action="store_true", help="count the words of retweets too")
    parser.add_argument("--clock-skew-seconds", type=float, default=2.0,
                        help="margin for clock skew between this host and the brokers (default 2)")
    parser.add_argument("--keep-minutes", type=float, default=60.0,
                        help="keep replaced versions this long for readers still on them (default 60)")
    args = parser.parse_args(argv)
    period = parse_duration(args.every) if args.every else None
    settings = settings_from_args(args)
    session = connect(settings)
    try:
        apply_schema(session, settings.keyspace, settings.replication)
    finally:
        session.cluster.shutdown()
    spark = spark_session(settings, "trendoff-batch")
    while True:
        started = time.monotonic()
        result = run_batch(spark, settings, count_retweets=args.count_retweets,
                           clock_skew_seconds=args.clock_skew_seconds, keep_minutes=args.keep_minutes)
        print(f"batch version {result.version}: T = {result.arrival_cutoff.isoformat()}, "
              f"{result.tweets_counted:,} tweets of {result.users:,} users in {result.seconds:.1f} s", flush=True)
        if period is None:
            return 0
        time.sleep(max(0.0, period - (time.monotonic() - started)))
