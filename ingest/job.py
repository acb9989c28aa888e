"""Ingest: land every tweet from Kafka in the Cassandra master table `tweets`, keeping its first arrival.

Run:  trendoff ingest [--until-idle]      or      spark-submit ... -m trendoff.ingest (see README)
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from cassandra.cluster import Session
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from trendoff import streaming
from trendoff.cassandra_io import apply_schema, connect
from trendoff.config import Settings, add_connection_options, settings_from_args
from trendoff.spark import spark_session

log = logging.getLogger(__name__)
JOB = "ingest"


def land_tweets(
    spark: SparkSession,
    settings: Settings,
    session: Session,
    tweets: DataFrame,
    timer: streaming.StepTimer | None = None,
) -> int:
    """Upsert the micro-batch's tweets into `tweets` by id, keeping each id's first arrival.

    The whole row is the first arrival's message (its 8 fields and where and when it arrived): a later
    copy of an id changes nothing, an earlier one (another partition, read later) replaces it. So the
    batch view counts the very text the speed job counted at the first arrival, whatever the order
    the micro-batches met the copies in. Idempotent: a replayed micro-batch finds its own rows (the same
    message) and writes the same values again. A csv-loaded row (no arrival) takes the message's
    fields and arrival and keeps its csv_loaded flag: it stays history, counted by batch only.
    """
    firsts = streaming.first_arrivals(tweets).persist()
    try:
        ids = [row.id for row in firsts.select("id").collect()]
        if timer:
            timer.lap("first arrivals")
        existing = streaming.lookup_by_id(
            spark, session, settings, "tweets",
            "id long, arrived_at timestamp, kafka_partition int, kafka_offset long", ids,
        ).select(
            "id",
            F.col("arrived_at").alias("old_arrived_at"),
            F.col("kafka_partition").alias("old_partition"),
            F.col("kafka_offset").alias("old_offset"),
        )
        if timer:
            timer.lap("lookups")
        return _write_first_arrivals(settings, firsts.join(existing, "id", "left"))
    finally:
        firsts.unpersist()


def _write_first_arrivals(settings: Settings, joined: DataFrame) -> int:
    old_is_earlier = F.col("old_arrived_at").isNotNull() & streaming.earlier(
        [F.col("old_arrived_at"), F.col("old_partition"), F.col("old_offset")],
        [F.col("arrived_at"), F.col("kafka_partition"), F.col("kafka_offset")],
    )
    # No cache here: the micro-batch's first arrivals are cached and the lookup is a broadcast join.
    rows = joined.where(~old_is_earlier).select(*streaming.TWEET_FIELDS, *streaming.ARRIVAL_COLUMNS)
    count = rows.count()
    if count:
        streaming.write_table(rows, settings, "tweets")
    return count


def build_query(spark: SparkSession, settings: Settings, options: streaming.StreamOptions) -> StreamingQuery:
    recorder = streaming.ProgressRecorder(settings, JOB)

    def process_tweets(tweets: DataFrame, batch_id: int, timer: streaming.StepTimer) -> dict[str, int]:
        landed = land_tweets(spark, settings, recorder.session, tweets, timer)
        timer.lap("land")
        return {"tweets_landed": landed}

    handle = streaming.micro_batch_handler(JOB, settings, recorder, process_tweets)
    stream = streaming.kafka_stream(spark, settings, JOB, options)
    checkpoint = streaming.checkpoint_dir(settings, JOB, options)
    return streaming.start_query(
        stream, handle, checkpoint, options, f"{JOB}-{settings.topic}", on_stop=recorder.close
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff ingest", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    streaming.add_stream_options(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    options = streaming.options_from_args(args)
    log.info("ingest: %s", settings.describe())
    session = connect(settings)
    try:
        apply_schema(session, settings.keyspace, settings.replication)
    finally:
        session.cluster.shutdown()
    spark = spark_session(settings, "trendoff-ingest")
    streaming.run_query(build_query(spark, settings, options), options)
    return 0
