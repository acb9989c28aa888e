"""Speed layer: per-user, per-arrival-minute word counts from Kafka into `speed_words`.

Each tweet is counted once, at its first arrival, and not at all when the published batch view
already counts it (docs/design.md). Rows are keyed (user, minute, word, tweet id), so a replayed
micro-batch overwrites what it wrote before instead of adding to it.

Run:  trendoff speed [--until-idle]      or      spark-submit ... -m trendoff.speed (see README)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from trendoff import streaming
from trendoff.cassandra_io import apply_schema, connect
from trendoff.config import Settings, add_connection_options, settings_from_args
from trendoff.spark import spark_session
from trendoff.view_keys import user_key_column as user_key
from trendoff.words import tweet_word_counts

log = logging.getLogger(__name__)
JOB = "speed"


def published_cutoff(recorder: streaming.ProgressRecorder) -> dt.datetime | None:
    """The arrival cutoff T of the published batch view (None before the first batch)."""
    row = recorder.session.execute(
        f"SELECT arrival_cutoff FROM {recorder.settings.keyspace}.batch_published WHERE view_name = 'words'"
    ).one()
    return row.arrival_cutoff if row else None


def tweets_to_count(
    spark: SparkSession, settings: Settings, tweets: DataFrame, cutoff: dt.datetime | None
) -> DataFrame:
    """The micro-batch's tweets that the speed view must count: first arrivals the batch view lacks."""
    firsts = streaming.first_arrivals(tweets)
    seen = streaming.read_table(spark, settings, "speed_seen", direct_join=True).select(
        "id", F.col("kafka_partition").alias("seen_partition"), F.col("kafka_offset").alias("seen_offset")
    )
    master = streaming.read_table(spark, settings, "tweets", direct_join=True).select(
        "id", F.col("csv_loaded"), F.col("arrived_at").alias("master_arrived_at")
    )
    joined = firsts.join(seen, "id", "left").join(master, "id", "left")
    # Counted before only when that earlier count was this very message (a replay rewrites it).
    first_time = F.col("seen_partition").isNull() | (
        (F.col("seen_partition") == F.col("kafka_partition")) & (F.col("seen_offset") == F.col("kafka_offset"))
    )
    in_batch_view = F.coalesce(F.col("csv_loaded"), F.lit(False))
    if cutoff is not None:
        in_batch_view = in_batch_view | (
            F.col("master_arrived_at").isNotNull() & (F.col("master_arrived_at") < F.lit(cutoff))
        )
    return joined.where(first_time & ~in_batch_view).select(*streaming.TWEET_FIELDS, *streaming.ARRIVAL_COLUMNS)


def count_words(counted: DataFrame, count_retweets: bool) -> DataFrame:
    """speed_words rows: (user, arrival_minute, word, tweet_id, count)."""
    keyed = counted.select(
        user_key(F.col("user")).alias("user"),
        F.date_trunc("minute", F.col("arrived_at")).alias("arrival_minute"),
        F.col("id").alias("tweet_id"),
        "text",
        "is_retweet",
    )
    return tweet_word_counts(keyed, keep=["user", "arrival_minute", "tweet_id"], count_retweets=count_retweets)


def build_query(
    spark: SparkSession, settings: Settings, options: streaming.StreamOptions, count_retweets: bool = False
) -> StreamingQuery:
    recorder = streaming.ProgressRecorder(settings, JOB)

    def handle(batch: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        batch = batch.persist()
        try:
            received = batch.count()
            if not received:
                return
            tweets, dead = streaming.decode(batch)
            dead_count = streaming.write_dead_letters(dead, settings, JOB)
            counted = tweets_to_count(spark, settings, tweets, published_cutoff(recorder)).persist()
            try:
                counted_tweets = counted.count()
                word_rows = count_words(counted, count_retweets).persist()
                rows = word_rows.count()
                if rows:
                    streaming.write_table(word_rows, settings, "speed_words")
                word_rows.unpersist()
                if counted_tweets:
                    streaming.write_table(
                        counted.select("id", *streaming.ARRIVAL_COLUMNS), settings, "speed_seen"
                    )
            finally:
                counted.unpersist()
            positions = recorder.record(batch)
            streaming.log_batch(JOB, batch_id, started, messages=received, tweets_counted=counted_tweets,
                                word_rows=rows, dead_letters=dead_count, lag=recorder.lag(positions))
        finally:
            batch.unpersist()

    stream = streaming.kafka_stream(spark, settings, JOB, options)
    checkpoint = streaming.checkpoint_dir(settings, JOB, options)
    return streaming.start_query(stream, handle, checkpoint, options, f"{JOB}-{settings.topic}")


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
