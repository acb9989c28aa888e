"""Kafka messages as the streaming jobs see them: the topic as a stream, each micro-batch decoded, checked
and reduced to each id's first arrival in one Spark job, brought to the driver in bounded chunks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro, to_avro

from trendoff.clients import security
from trendoff.settings import Settings
from trendoff.times import epoch_ms, from_epoch_ms
from trendoff.tweets import avro_codec
from trendoff.tweets.limits import limit_violation_column

# A dead letter keeps at most this much of the message's key and value (and their lengths): the row
# must be writable whatever the message holds (a 1 MB key or value is no Cassandra cell to copy).
PREVIEW_BYTES = 1024
# The key is the user handle (SPEC §1), at most 100 characters (400 UTF-8 bytes): a longer key is not
# a message of this pipeline.
MAX_KEY_BYTES = 1024
# Rows the driver holds at once: each good tweet is at most 25,000 characters (tweets.limits), so a
# chunk stays around 25-100 MB even when every tweet is that long; ordinary micro-batches are one chunk.
ROWS_PER_CHUNK = 1000

NOT_AVRO = "not an Avro Tweet (tweets/tweet.avsc)"
EMPTY = "empty message"
KEY_TOO_LONG = f"key too long (over {MAX_KEY_BYTES:,} bytes; the key is the user handle)"
# The longest string Avro may decode: far above a tweet's text (25,000 characters, 100 KB in UTF-8)
# and Kafka's default message size (1 MiB), so only a corrupt length is refused.
AVRO_MAX_STRING_BYTES = 4 * 1024 * 1024
AVRO_STRING_LIMIT_PROPERTY = "org.apache.avro.limits.string.maxLength"


def kafka_stream(spark: SparkSession, settings: Settings, job: str, max_offsets_per_trigger: int | None,
                 starting: dict[int, int] | None = None, partitions: Iterable[int] = ()) -> DataFrame:
    """The topic as a stream, read by the job's own consumer group (its offsets live in the checkpoint).

    ``starting`` (next offset per partition) is where a query without a checkpoint begins; Spark wants
    every partition named, so the other ``partitions`` begin at their earliest offset (-2).
    """
    if starting:
        offsets = {str(p): starting.get(p, -2) for p in sorted({*starting, *partitions})}
        starting_offsets = json.dumps({settings.topic: offsets})
    else:
        starting_offsets = "earliest"
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .options(**security.spark_kafka_options(settings))
        .option("subscribe", settings.topic)
        .option("startingOffsets", starting_offsets)
        .option("groupIdPrefix", f"trendoff-{job}")
        .option("includeHeaders", "false")
    )
    if max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()


def limit_avro_strings(spark: SparkSession) -> None:
    """Make Avro refuse a string longer than AVRO_MAX_STRING_BYTES in this JVM (local mode: the executors).

    Why: Avro allocates a string's declared length before reading it, so 17 random bytes claiming a
    1.5 GB string end the JVM (OutOfMemoryError, which from_avro cannot catch). Avro's own limit (its fix
    for CVE-2023-39410) makes such a message a decoding error, so a dead letter. On a cluster, executors
    get it with spark.executor.extraJavaOptions=-Dorg.apache.avro.limits.string.maxLength=4194304 (README).
    """
    jvm = spark.sparkContext._jvm
    gateway = spark.sparkContext._gateway
    assert jvm is not None and gateway is not None
    if jvm.java.lang.System.getProperty(AVRO_STRING_LIMIT_PROPERTY) is None:  # a value set by the user stays
        jvm.java.lang.System.setProperty(AVRO_STRING_LIMIT_PROPERTY, str(AVRO_MAX_STRING_BYTES))
    # Avro reads the property once, when the class loads; resetLimits (package-private) reads it again,
    # in case something in this JVM decoded Avro before.
    limits = jvm.java.lang.Class.forName("org.apache.avro.SystemLimitException")
    reset = limits.getDeclaredMethod("resetLimits", gateway.new_array(jvm.java.lang.Class, 0))
    reset.setAccessible(True)
    reset.invoke(None, gateway.new_array(jvm.java.lang.Object, 0))


def check_messages(batch: DataFrame) -> DataFrame:
    """The micro-batch's messages decoded: the Tweet struct (null when undecodable), key, value, where
    each one arrived, and ``reason``: null for a good tweet, else why it is a dead letter (empty, not a
    whole Tweet record, a key that is no handle, or the first limit of trendoff/tweets/limits.py it breaks).

    Call limit_avro_strings on the session first (StreamingJob does)."""
    schema = avro_codec.schema_json()
    decoded = batch.select(
        from_avro(F.col("value"), schema, {"mode": "PERMISSIVE"}).alias("tweet"),
        F.col("key"),
        F.col("value"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("arrived_at"),
    )
    tweet = F.col("tweet")
    # PERMISSIVE decoding gives nulls for a message it cannot read; a record read in full has every
    # field without a null branch set.
    read, encodable = tweet.isNotNull(), []
    for field in json.loads(schema)["fields"]:
        name, kind = field["name"], field["type"]
        if isinstance(kind, list):
            encodable.append(tweet[name].alias(name))
        else:
            read = read & tweet[name].isNotNull()
            # Never used (read is false then); it only tells to_avro the field cannot be null.
            encodable.append(F.coalesce(tweet[name], _zero(kind)).alias(name))
    # Avro ignores bytes after the record: encoding the struct again must give the message's length,
    # or random bytes and other schemas could pass as a (garbage) tweet.
    encoded = to_avro(F.struct(*encodable), schema)
    whole = F.when(read, F.length(encoded) == F.length(F.col("value"))).otherwise(False)
    reason = (
        F.when(F.coalesce(F.length(F.col("value")), F.lit(0)) == 0, F.lit(EMPTY))
        .when(~whole, F.lit(NOT_AVRO))
        .when(F.coalesce(F.length(F.col("key")), F.lit(0)) > MAX_KEY_BYTES, F.lit(KEY_TOO_LONG))
        .otherwise(limit_violation_column(tweet))
    )
    return decoded.withColumn("reason", reason)


def _zero(kind: Any) -> Column:
    """A non-null value of an Avro field type, as from_avro types it."""
    if isinstance(kind, dict) and kind.get("logicalType") == "timestamp-millis":
        return F.lit(0).cast("timestamp")
    name = kind["type"] if isinstance(kind, dict) else kind
    return {"long": F.lit(0).cast("long"), "int": F.lit(0), "string": F.lit(""), "boolean": F.lit(False),
            "double": F.lit(0.0), "float": F.lit(0.0).cast("float")}[name]


@dataclass(frozen=True)
class Message:
    """One message of a micro-batch on the driver: where and when it arrived, and either the job's
    columns of its tweet (``tweet``, only for its id's first arrival in the micro-batch) or why it is a
    dead letter (``reason``, with the first PREVIEW_BYTES of its key and value and their lengths).
    A later copy of an id in the same micro-batch has neither."""

    kafka_partition: int
    kafka_offset: int
    arrived_ms: int  # broker append time, epoch milliseconds (what Kafka and Cassandra both keep)
    reason: str | None
    message_key: bytes | None
    message_value: bytes | None
    tweet: Row | None
    key_length: int | None = None
    value_length: int | None = None

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


def first_arrival_rows(batch: DataFrame, tweet_columns: dict[str, Column], partitions: int) -> DataFrame:
    """The micro-batch as the tasks read it: every message, in ``partitions`` partitions grouped by id,
    the job's ``tweet_columns`` only on each id's first arrival (earliest arrived_at, partition, offset).

    Spark picks the first arrivals (a window per id), so a task may read its rows in any chunks: no
    chunk ever splits an id's decision. One partition (an ordinary micro-batch) needs no shuffle.
    """
    checked = check_messages(batch)
    good = F.col("reason").isNull()
    # Dead letters have no id to group by; their negative offsets spread them (ids are positive).
    group = F.when(good, F.col("tweet.id")).otherwise(-1 - F.col("kafka_offset"))
    slim = checked.select(
        "tweet", "kafka_partition", "kafka_offset", F.unix_millis("arrived_at").alias("arrived_ms"), "reason",
        group.alias("_group"),
        # Only dead letters keep their bytes, and only a preview: nothing large crosses the shuffle.
        F.when(~good, F.substring("key", 1, PREVIEW_BYTES)).alias("message_key"),
        F.when(~good, F.substring("value", 1, PREVIEW_BYTES)).alias("message_value"),
        F.when(~good, F.length("key")).alias("key_length"),
        F.when(~good, F.length("value")).alias("value_length"),
    )
    grouped = slim.coalesce(1) if partitions <= 1 else slim.repartition(partitions, "_group")
    order = Window.partitionBy("_group").orderBy("arrived_ms", "kafka_partition", "kafka_offset")
    first = good & (F.row_number().over(order) == 1)
    return grouped.select(
        "kafka_partition", "kafka_offset", "arrived_ms", "reason", "message_key", "message_value",
        F.when(first, F.struct(*[column.alias(name) for name, column in tweet_columns.items()])).alias("tweet"),
        "key_length", "value_length",
    )


def message_from_row(row: Row) -> Message:
    """A row of first_arrival_rows as a Message (in the task that reads it)."""
    return Message(
        row.kafka_partition, row.kafka_offset, row.arrived_ms, row.reason,
        None if row.message_key is None else bytes(row.message_key),
        None if row.message_value is None else bytes(row.message_value), row.tweet,
        row.key_length, row.value_length,
    )


def in_chunks(messages: Iterable[Message], size: int) -> Iterator[list[Message]]:
    """``messages`` in lists of at most ``size``, so whoever reads them holds one list at a time."""
    chunk: list[Message] = []
    for message in messages:
        chunk.append(message)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class BatchSummary:
    """A micro-batch's messages, dead letters and next offset per partition."""

    messages: int
    dead_letters: int
    next_offsets: dict[int, int]

    def plus(self, other: BatchSummary) -> BatchSummary:
        """The summary of both parts of a micro-batch (its chunks)."""
        offsets = dict(self.next_offsets)
        for partition, next_offset in other.next_offsets.items():
            offsets[partition] = max(offsets.get(partition, 0), next_offset)
        return BatchSummary(self.messages + other.messages, self.dead_letters + other.dead_letters, offsets)


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
    """Each tweet id's earliest arrival among ``tweets`` (first_arrival_rows already keeps one per id; this
    keeps the rule for any list of messages)."""
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
