"""Speed layer: per-user, per-arrival-minute word counts from Kafka into `speed_words`.

Each tweet is counted once, at its first arrival, and not at all when the published batch view
already counts it (docs/design.md). Rows are keyed (user, minute, word, tweet id), so a replayed
micro-batch overwrites what it wrote before instead of adding to it. There is no watermark: a
backlog read after a long stop is counted at its own arrival minutes, never dropped as late.

Run:  trendoff speed [--until-idle]      or      spark-submit ... -m trendoff.speed (see README)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Sequence

from cassandra.cluster import Session
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from trendoff import streaming
from trendoff.cassandra_io import apply_schema, connect
from trendoff.config import Settings, add_connection_options, settings_from_args
from trendoff.spark import spark_session
from trendoff.view_keys import user_key_column as user_key
from trendoff.words import words_column

log = logging.getLogger(__name__)
JOB = "speed"


def published_cutoff(recorder: streaming.ProgressRecorder) -> dt.datetime | None:
    """The arrival cutoff T of the published batch view (None before the first batch)."""
    row = recorder.session.execute(
        f"SELECT arrival_cutoff FROM {recorder.settings.keyspace}.batch_published WHERE view_name = 'words'"
    ).one()
    if row is None or row.arrival_cutoff is None:
        return None
    # The driver returns naive UTC datetimes; Spark would read a naive one in the local time zone.
    return row.arrival_cutoff.replace(tzinfo=dt.UTC)


def first_arrivals_to_decide(
    spark: SparkSession,
    settings: Settings,
    session: Session,
    firsts: DataFrame,
    cutoff: dt.datetime | None,
    count_retweets: bool,
    timer: streaming.StepTimer | None = None,
) -> DataFrame:
    """The micro-batch's tweets that are their id's first arrival, with what to do about each.

    ``firsts``: the micro-batch's earliest copy of each id (streaming.first_arrivals). Returns one
    row per id whose copy here is earlier than (or the very message of) the arrival in `speed_seen`.
    Columns: the tweet's arrival columns, ``user`` (the view key), ``arrival_minute``, ``tweet_id``,
    ``words`` (array, repeats kept; empty when the published batch already counts the tweet), and
    ``old_user``/``old_minute``/``old_words`` when an earlier copy replaces a count made at a later
    one (rows to delete first).
    """
    ids = [row.id for row in firsts.select("id").collect()]
    if timer:
        timer.lap("first arrivals")
    seen = streaming.lookup_by_id(
        spark, session, settings, "speed_seen",
        "id long, kafka_partition int, kafka_offset long, arrived_at timestamp, user string, "
        "arrival_minute timestamp, words array<string>",
        ids,
    ).select(
        "id",
        F.col("kafka_partition").alias("seen_partition"),
        F.col("kafka_offset").alias("seen_offset"),
        F.col("arrived_at").alias("seen_arrived_at"),
        F.col("user").alias("old_user"),
        F.col("arrival_minute").alias("old_minute"),
        F.col("words").alias("old_words"),
    )
    master = streaming.lookup_by_id(
        spark, session, settings, "tweets", "id long, csv_loaded boolean, arrived_at timestamp", ids
    ).select("id", F.col("csv_loaded"), F.col("arrived_at").alias("master_arrived_at"))
    if timer:
        timer.lap("lookups")
    joined = firsts.join(seen, "id", "left").join(master, "id", "left")
    same_message = (F.col("seen_partition") == F.col("kafka_partition")) & (
        F.col("seen_offset") == F.col("kafka_offset")
    )
    earlier_than_seen = streaming.earlier(
        [F.col("arrived_at"), F.col("kafka_partition"), F.col("kafka_offset")],
        [F.col("seen_arrived_at"), F.col("seen_partition"), F.col("seen_offset")],
    )
    # A replayed micro-batch meets its own speed_seen rows (same message): it decides and writes the
    # same again. A later copy of a counted id is skipped here.
    first = F.col("seen_partition").isNull() | same_message | earlier_than_seen
    moved = F.col("seen_partition").isNotNull() & ~same_message
    # The published batch view counts master rows that arrived before T, and csv-loaded history; the
    # master's arrival is the id's first arrival, whichever copy this job sees first.
    in_batch_view = F.coalesce(F.col("csv_loaded"), F.lit(False))
    if cutoff is not None:
        in_batch_view = in_batch_view | F.coalesce(F.col("master_arrived_at") < F.lit(cutoff), F.lit(False))
    words = words_column(F.col("text"), F.col("is_retweet"), count_retweets=count_retweets)
    return joined.where(first).select(
        F.col("id").alias("tweet_id"),
        *streaming.ARRIVAL_COLUMNS,
        user_key(F.col("user")).alias("user"),
        F.date_trunc("minute", F.col("arrived_at")).alias("arrival_minute"),
        F.when(in_batch_view, F.array().cast("array<string>")).otherwise(words).alias("words"),
        F.when(moved, F.col("old_user")).alias("old_user"),
        F.when(moved, F.col("old_minute")).alias("old_minute"),
        F.when(moved, F.col("old_words")).alias("old_words"),
    )


def speed_word_rows(decided: DataFrame) -> DataFrame:
    """speed_words rows: (user, arrival_minute, word, tweet_id, count) - count = times in that tweet.

    Counted inside each tweet's own word array (a tweet has a few dozen words at most), so a
    micro-batch needs no shuffle for it.
    """
    per_word = decided.select(
        "user", "arrival_minute", "tweet_id", "words", F.explode(F.array_distinct("words")).alias("word")
    )
    return per_word.select(
        "user", "arrival_minute", "word", "tweet_id",
        F.size(F.filter("words", lambda each: each == F.col("word"))).alias("count"),
    )


def _has_old_rows() -> Column:
    return F.col("old_minute").isNotNull() & (F.size("old_words") > 0)


def delete_moved_counts(recorder: streaming.ProgressRecorder, decided: DataFrame) -> int:
    """Delete the speed_words rows of counts made at a later copy of an id whose earlier copy is here.

    Rare (copies of one id in two partitions, seen out of order), so the keys are collected to the driver.
    """
    moved = decided.where(_has_old_rows()).select(
        "tweet_id", "old_user", "old_minute", "old_words"
    ).collect()
    if not moved:
        return 0
    session = recorder.session
    statement = session.prepare(
        f"DELETE FROM {recorder.settings.keyspace}.speed_words "
        "WHERE user = ? AND arrival_minute = ? AND word = ? AND tweet_id = ?"
    )
    for row in moved:
        for word in row.old_words:
            session.execute(statement, (row.old_user, row.old_minute, word, row.tweet_id), timeout=30.0)
    log.info("speed: moved the counts of %d tweets to an earlier arrival", len(moved))
    return len(moved)


def build_query(
    spark: SparkSession, settings: Settings, options: streaming.StreamOptions, count_retweets: bool = False
) -> StreamingQuery:
    recorder = streaming.ProgressRecorder(settings, JOB)

    def process_tweets(tweets: DataFrame, batch_id: int, timer: streaming.StepTimer) -> dict[str, int]:
        cutoff = published_cutoff(recorder)
        firsts = streaming.first_arrivals(tweets).persist()
        decided = first_arrivals_to_decide(
            spark, settings, recorder.session, firsts, cutoff, count_retweets, timer
        ).persist()
        try:
            # One pass fills the cache and tells whether any count has to move (rarely).
            figures = decided.agg(
                F.count_if(F.size("words") > 0).alias("counted"), F.count_if(_has_old_rows()).alias("moved")
            ).first()
            timer.lap("dedup")
            # Order matters for a crash between steps: old rows go first, then the new rows, then
            # speed_seen; a replay finds speed_seen unchanged and repeats the same steps.
            if figures.moved:
                delete_moved_counts(recorder, decided)
            # Idempotent: keyed (user, minute, word, tweet id), a replay overwrites the same rows with
            # the same counts (no counters); the TTL comes from the table default.
            streaming.write_table(speed_word_rows(decided), settings, "speed_words", **streaming.WIDE_WRITES)
            timer.lap("words")
            seen_rows = decided.select(
                F.col("tweet_id").alias("id"), *streaming.ARRIVAL_COLUMNS, "user", "arrival_minute",
                F.array_distinct("words").alias("words"),
            )
            streaming.write_table(seen_rows, settings, "speed_seen")
            timer.lap("seen")
        finally:
            decided.unpersist()
            firsts.unpersist()
        return {"tweets_counted": figures.counted}

    handle = streaming.micro_batch_handler(JOB, settings, recorder, process_tweets)
    stream = streaming.kafka_stream(spark, settings, JOB, options)
    checkpoint = streaming.checkpoint_dir(settings, JOB, options)
    return streaming.start_query(
        stream, handle, checkpoint, options, f"{JOB}-{settings.topic}", on_stop=recorder.close
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff speed", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    streaming.add_stream_options(parser)
    parser.add_argument("--count-retweets", action="store_true", help="count the words of retweets too")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    options = streaming.options_from_args(args)
    log.info("speed: %s", settings.describe())
    session = connect(settings)
    try:
        apply_schema(session, settings.keyspace, settings.replication)
    finally:
        session.cluster.shutdown()
    spark = spark_session(settings, "trendoff-speed")
    streaming.run_query(build_query(spark, settings, options, args.count_retweets), options)
    return 0
