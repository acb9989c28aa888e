"""Ingest: land every tweet from Kafka in the Cassandra master table `tweets`, keeping its first arrival.

Run:  trendoff ingest [--until-idle]      or      spark-submit ... -m trendoff.ingest (see README)
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from cassandra.cluster import Session
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from trendoff.clients.cassandra_writes import lookup_by_id, write_narrow
from trendoff.clients.spark import job_spark_session
from trendoff.config import add_connection_options, settings_from_args
from trendoff.settings import Settings
from trendoff.streaming.chunks import StepTimer
from trendoff.streaming.job import StreamingJob, StreamOptions, add_stream_options, options_from_args
from trendoff.streaming.messages import Message, first_arrivals, stored_arrival
from trendoff.times import from_epoch_ms
from trendoff.tweets import avro_codec

log = logging.getLogger(__name__)
JOB = "ingest"


def tweet_columns() -> dict[str, Column]:
    """What ingest needs of each tweet: its 8 fields (created_at as epoch milliseconds, so no time zone
    ever comes into it on the way to the driver)."""
    return {
        name: F.unix_millis(F.col("tweet.created_at")) if name == "created_at" else F.col(f"tweet.{name}")
        for name in avro_codec.field_names()
    }


def land_tweets(session: Session, settings: Settings, tweets: list[Message],
                timer: StepTimer | None = None) -> int:
    """Upsert the micro-batch's tweets into `tweets` by id, keeping each id's first arrival.

    The whole row is the first arrival's message (its 8 fields and where and when it arrived): a later
    copy of an id changes nothing, an earlier one (another partition, read later) replaces it. So the
    batch view counts the very text the speed job counted at the first arrival, whatever the order
    the micro-batches met the copies in. Idempotent: a replayed micro-batch finds its own rows (the same
    message) and writes the same values again. A csv-loaded row (no arrival) takes the message's
    fields and arrival and keeps its csv_loaded flag: it stays history, counted by batch only.
    Returns the number of rows written.
    """
    firsts = first_arrivals(tweets)
    if timer:
        timer.lap("first arrivals")
    stored = lookup_by_id(
        session, settings.keyspace, "tweets", ["id", "arrived_at", "kafka_partition", "kafka_offset"], firsts
    )
    if timer:
        timer.lap("lookups")
    to_write = []
    for tweet_id, message in firsts.items():
        old = stored_arrival(stored.get(tweet_id))
        if old is None or message.arrival <= old:
            to_write.append(message)
    columns = [*avro_codec.field_names(), "kafka_partition", "kafka_offset", "arrived_at"]
    statement = session.prepare(
        f"INSERT INTO {settings.keyspace}.tweets ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    write_narrow(session, settings.keyspace, statement, [_row_values(message) for message in to_write])
    return len(to_write)


def _row_values(message: Message) -> tuple[object, ...]:
    tweet = message.tweet
    assert tweet is not None
    fields = [from_epoch_ms(tweet.created_at) if name == "created_at" else tweet[name]
              for name in avro_codec.field_names()]
    return (*fields, message.kafka_partition, message.kafka_offset, message.arrived_at)


def build_job(spark: SparkSession, settings: Settings, options: StreamOptions) -> StreamingJob:
    def process_tweets(session: Session, tweets: list[Message], timer: StepTimer
                       ) -> dict[str, int]:
        landed = land_tweets(session, settings, tweets, timer)
        timer.lap("land")
        return {"tweets_landed": landed}

    return StreamingJob(spark, settings, options, JOB, tweet_columns(), process_tweets)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="trendoff ingest", description=__doc__.splitlines()[0])
    add_connection_options(parser)
    add_stream_options(parser)
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    options = options_from_args(args)
    log.info("ingest: %s", settings.describe())
    spark = job_spark_session(settings, "trendoff-ingest")
    build_job(spark, settings, options).run()
    return 0
