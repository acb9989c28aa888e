"""Kafka messages as the streaming jobs see them: the topic as a stream, each micro-batch decoded and
checked in one Spark job and brought to the driver, dead-letter reasons, first arrival per id."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from trendoff import avro_codec
from trendoff.config import Settings
from trendoff.times import epoch_ms, from_epoch_ms


def kafka_stream(spark: SparkSession, settings: Settings, job: str, max_offsets_per_trigger: int | None
                 ) -> DataFrame:
    """The topic as a stream, read by the job's own consumer group (its offsets live in the checkpoint)."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", settings.topic)
        .option("startingOffsets", "earliest")
        .option("groupIdPrefix", f"trendoff-{job}")
        .option("includeHeaders", "false")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def check_messages(batch: DataFrame) -> DataFrame:
    """The micro-batch's messages decoded: the Tweet struct (null when undecodable), where each one
    arrived, and ``reason`` (null for a good tweet, else why it is a dead letter)."""
    decoded = batch.select(
        from_avro(F.col("value"), avro_codec.schema_json(), {"mode": "PERMISSIVE"}).alias("tweet"),
        F.col("key"),
        F.col("value"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("arrived_at"),
    )
    tweet = F.col("tweet")
    reason = (
        F.when(F.col("value").isNull(), F.lit("empty message"))
        .when(tweet.isNull(), F.lit("not an Avro Tweet (schemas/tweet.avsc)"))
        .when(tweet["id"].isNull() | (tweet["id"] <= 0), F.lit("tweet id missing or not positive"))
        .when(F.coalesce(F.length(F.trim(tweet["user"])), F.lit(0)) == 0, F.lit("user missing"))
        .when(tweet["created_at"].isNull(), F.lit("created_at missing"))
    )
    return decoded.withColumn("reason", reason)


@dataclass(frozen=True)
class Message:
    """One message of a micro-batch on the driver: where and when it arrived, and either the job's
    columns of its tweet (``tweet``) or why it is a dead letter (``reason``, with its raw bytes)."""

    kafka_partition: int
    kafka_offset: int
    arrived_ms: int  # broker append time, epoch milliseconds (what Kafka and Cassandra both keep)
    reason: str | None
    message_key: bytes | None
    message_value: bytes | None
    tweet: Row | None

    @property
    def id(self) -> int:
        assert self.tweet is not None
        return int(self.tweet.id)

    @property
    def arrival(self) -> tuple[int, int, int]:
        """Orders the copies of an id: the first arrival is the smallest."""
        return (self.arrived_ms, self.kafka_partition, self.kafka_offset)

    @property
    def arrived_at(self) -> dt.datetime:
        return from_epoch_ms(self.arrived_ms)


def collect_messages(batch: DataFrame, tweet_columns: dict[str, Column]) -> list[Message]:
    """The micro-batch on the driver, in one Spark job: decoded, checked, and for each good tweet the
    job's ``tweet_columns`` (expressions over the ``tweet`` struct, such as its words).

    Micro-batches are bounded (--max-offsets-per-trigger), so they fit on the driver. What a job does
    with them is a few Cassandra reads and writes; done from the driver, a micro-batch costs one Spark
    job instead of six, which at a thousand tweets a second is most of its time (docs/design.md).
    """
    checked = check_messages(batch)
    dead = F.col("reason").isNotNull()
    rows = checked.select(
        "kafka_partition", "kafka_offset", F.unix_millis("arrived_at").alias("arrived_ms"), "reason",
        F.when(dead, F.col("key")).alias("message_key"), F.when(dead, F.col("value")).alias("message_value"),
        F.when(~dead, F.struct(*[column.alias(name) for name, column in tweet_columns.items()])).alias("tweet"),
    ).collect()
    return [Message(row.kafka_partition, row.kafka_offset, row.arrived_ms, row.reason,
                    None if row.message_key is None else bytes(row.message_key),
                    None if row.message_value is None else bytes(row.message_value), row.tweet)
            for row in rows]



@dataclass(frozen=True)
class BatchSummary:
    """A micro-batch's messages, dead letters and next offset per partition."""

    messages: int
    dead_letters: int
    next_offsets: dict[int, int]


def summarize(messages: list[Message]) -> BatchSummary:
    next_offsets: dict[int, int] = {}
    for message in messages:
        next_offsets[message.kafka_partition] = max(
            next_offsets.get(message.kafka_partition, 0), message.kafka_offset + 1
        )
    return BatchSummary(
        messages=len(messages),
        dead_letters=sum(1 for message in messages if message.reason is not None),
        next_offsets=next_offsets,
    )


def first_arrivals(tweets: Iterable[Message]) -> dict[int, Message]:
    """Each tweet id's earliest arrival in the micro-batch (a replay sends ids again)."""
    firsts: dict[int, Message] = {}
    for message in tweets:
        current = firsts.get(message.id)
        if current is None or message.arrival < current.arrival:
            firsts[message.id] = message
    return firsts


def stored_arrival(row: Any) -> tuple[int, int, int] | None:
    """The (arrived_ms, partition, offset) of a looked-up row, or None when it has no arrival
    (csv-loaded history), comparable with Message.arrival."""
    if row is None or row.arrived_at is None:
        return None
    return (epoch_ms(row.arrived_at), row.kafka_partition, row.kafka_offset)
